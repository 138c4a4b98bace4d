"""The guides and the FAQ, as data: who they are for, their steps, the page each shows.

Pure: no I/O. Every sentence is French marked ``N_`` and said in the
reader's language where it is shown. A step that shows a page names it
(``page``) and the element the reader looks for (``selector``): the UI
tests open that page as that role at 360 px, check the element is there,
and keep the screenshot the guide shows, so a guide cannot drift from the
pages it explains. A page's context link (« Aide sur cette page ») leads to
the guides whose steps show that page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from appliance.i18n import N_

EVERYONE: Final = ("pupil", "teacher", "staff", "referent")


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do, and the page (seen as the guide's role) where it is done.

    ``page`` may carry a query (a class of the demo school) for its screenshot.
    """

    text: str
    page: str = ""
    selector: str = ""


@dataclass(frozen=True, slots=True)
class Guide:
    """A task from start to end, for the roles that do it."""

    slug: str
    title: str
    summary: str
    roles: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def shown_as(self) -> str:
        """Return the role whose screen the screenshots show."""
        return self.roles[0]

    def screenshot(self, index: int) -> str:
        """Return the file name of step ``index``'s screenshot."""
        return f"{self.slug}-{index + 1}.png"


@dataclass(frozen=True, slots=True)
class Question:
    """A question people ask, and its answer."""

    question: str
    answer: str
    roles: tuple[str, ...] = EVERYONE


GUIDES: Final[tuple[Guide, ...]] = (
    Guide(
        "premiere-semaine",
        N_("Votre première semaine de référent"),
        N_("Ce qu'il faut vérifier et régler pour que le boîtier protège et serve l'école."),
        ("referent",),
        (
            Step(
                N_(
                    "Ouvrez le tableau de bord : les alertes « À traiter » viennent en premier. "
                    "Chacune mène à la page qui la règle."
                ),
                "/dashboard",
                "#alerts",
            ),
            Step(
                N_(
                    "Activez la double authentification (Mon compte › Double authentification) : "
                    "votre compte peut tout régler, un mot de passe volé ne doit pas suffire."
                ),
                "/compte/double-authentification",
                "#second-factor-state",
            ),
            Step(
                N_(
                    "Dans Filtrage, vérifiez qu'une liste est chargée, puis essayez « Pourquoi ce "
                    "site est-il bloqué ? » avec un site que vous connaissez."
                ),
                "/filtering",
                "#explain-title",
            ),
            Step(
                N_(
                    "Dans Annuaire, vérifiez que les classes et leurs élèves sont là ; sinon, "
                    "importez-les depuis la page Imports."
                ),
                "/directory",
                "h1",
            ),
            Step(
                N_(
                    "Répondez aux demandes d'aide : les enseignants et les élèves vous écrivent "
                    "depuis la page Aide, à toute heure."
                ),
                "/aide/demandes",
                "#requests-title",
            ),
        ),
    ),
    Guide(
        "couper-internet",
        N_("Couper Internet pour la classe"),
        N_("Depuis le téléphone, en cours : un geste, jusqu'à la fin du créneau."),
        ("teacher",),
        (
            Step(
                N_(
                    "Ouvrez « Internet de la classe ». « Maintenant » dit ce qui s'applique à la "
                    "classe et jusqu'à quelle heure."
                ),
                "/internet",
                "#now-title",
            ),
            Step(
                N_(
                    "Touchez « Couper Internet » : les appareils de la classe n'ont plus accès à "
                    "Internet jusqu'à la fin du créneau. « Rétablir » rend l'accès tout de suite, "
                    "« Prolonger d'un créneau » garde la coupure."
                ),
                "/internet",
                "#taps-title",
            ),
            Step(
                N_(
                    "Pour un groupe seulement, choisissez-le dans « Pour » avant de toucher le "
                    "bouton ; les groupes se créent depuis « Groupes de la classe »."
                ),
            ),
        ),
    ),
    Guide(
        "distribuer",
        N_("Distribuer un document et ramasser les travaux"),
        N_("Un document pour toute la classe, puis qui a rendu et qui n'a pas rendu."),
        ("teacher",),
        (
            Step(
                N_(
                    "Ouvrez « Ma classe ». Dans « Documents distribués », choisissez les fichiers "
                    "et touchez « Envoyer » : chaque élève les trouve dans ses fichiers."
                ),
                "/classe?classe=6A",
                "#distribution-title",
            ),
            Step(
                N_(
                    "Dans « Travaux à rendre », donnez un titre et une échéance : les élèves "
                    "rendent leur travail depuis leurs fichiers. « Qui a rendu, qui n'a pas "
                    "rendu » fait le point ; « Tout télécharger (zip) » ramasse les copies."
                ),
                "/classe?classe=6A",
                "#assignments-title",
            ),
        ),
    ),
    Guide(
        "mes-fichiers",
        N_("Mes fichiers et mon espace PERSONNEL"),
        N_("Où ranger son travail, et comment rouvrir PERSONNEL si le mot de passe a changé."),
        ("pupil", "teacher", "staff"),
        (
            Step(
                N_(
                    "« Mes fichiers » a deux espaces : l'espace pédagogique, sauvegardé, que "
                    "vos enseignants peuvent voir pour les travaux rendus, et PERSONNEL, que "
                    "personne d'autre que vous ne peut lire, pas même un administrateur."
                ),
                "/fichiers",
                "h1",
            ),
            Step(
                N_(
                    "À la première connexion, un code de secours s'affiche une seule fois : "
                    "recopiez-le et gardez-le chez vous. Il rouvre PERSONNEL si vous oubliez "
                    "votre mot de passe."
                ),
            ),
            Step(
                N_(
                    "Si votre mot de passe a changé, PERSONNEL est verrouillé : saisissez votre "
                    "ancien mot de passe ou votre code de secours sur la page « Mes fichiers »."
                ),
            ),
        ),
    ),
)

FAQ: Final[tuple[Question, ...]] = (
    Question(
        N_("Quel identifiant utiliser ?"),
        N_(
            "Celui de l'établissement, le même que pour l'ENT. En cas de doute, demandez au "
            "référent numérique avec le formulaire de cette page."
        ),
    ),
    Question(
        N_("J'ai oublié mon mot de passe."),
        N_(
            "Le référent numérique peut vous en donner un nouveau. Gardez votre code de "
            "secours : il rouvre votre espace PERSONNEL avec le nouveau mot de passe."
        ),
    ),
    Question(
        N_("Un site utile est bloqué. Que faire ?"),
        N_(
            "La page de blocage propose de demander le déblocage : le référent voit la demande "
            "dans Filtrage. Un enseignant peut aussi autoriser une liste de sites pour sa classe."
        ),
    ),
    Question(
        N_("Qui peut lire mon espace PERSONNEL ?"),
        N_(
            "Personne d'autre que vous : il est chiffré avec une clé qui ne s'ouvre qu'avec "
            "votre mot de passe ou votre code de secours. Le référent ne peut pas le lire."
        ),
    ),
    Question(
        N_("Internet est coupé dans ma classe. Pourquoi ?"),
        N_(
            "Un enseignant a posé un contrôle pour le créneau ; il finit seul à la fin du "
            "créneau. La page « Internet de la classe » dit qui l'a posé et jusqu'à quand."
        ),
        ("teacher", "referent"),
    ),
    Question(
        N_("J'ai perdu le téléphone de ma double authentification."),
        N_(
            "Connectez-vous avec l'un de vos codes de secours, saisi à la place du code. Sans "
            "code de secours, un administrateur du boîtier la désactive depuis la console."
        ),
        ("teacher", "staff", "referent"),
    ),
    Question(
        N_("Les sauvegardes fonctionnent-elles ?"),
        N_(
            "Le tableau de bord le dit : la dernière sauvegarde, le dernier test de "
            "restauration, et une alerte dès que l'une échoue ou date de trop longtemps."
        ),
        ("referent",),
    ),
)

# What a request is about: the asker picks one, the referent sorts by it.
TOPICS: Final[dict[str, str]] = {
    "account": N_("Compte ou mot de passe"),
    "internet": N_("Accès à Internet ou site bloqué"),
    "files": N_("Fichiers et travaux"),
    "device": N_("Appareil, Wi-Fi ou application"),
    "other": N_("Autre chose"),
}


def guides_for(role: str) -> list[Guide]:
    """Return the guides for ``role``, in their order."""
    return [guide for guide in GUIDES if role in guide.roles]


def questions_for(role: str) -> list[Question]:
    """Return the FAQ entries for ``role``."""
    return [question for question in FAQ if role in question.roles]


def guide(slug: str) -> Guide | None:
    """Return the guide named ``slug``, or None."""
    return next((g for g in GUIDES if g.slug == slug), None)


def about_page(path: str, guides: Iterable[Guide]) -> list[Guide]:
    """Return the guides among ``guides`` whose steps show the page at ``path``."""
    return [g for g in guides if any(step.page.split("?")[0] == path for step in g.steps)]


def screenshots() -> list[tuple[Guide, int, Step]]:
    """Return every step that shows a page, with its guide and index."""
    return [(g, i, step) for g in GUIDES for i, step in enumerate(g.steps) if step.page]
