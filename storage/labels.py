"""The spaces, and what an upload or a class action ended in, named for the pages."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "class.message": {
        "refused": N_("Action refusée."),
        "late": N_("La date limite est passée : le travail n'a pas été enregistré."),
        "infected": N_("Fichier refusé : l'antivirus y a trouvé un virus."),
        "created": N_("Travail à rendre créé."),
        "held": N_(
            "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra "
            "dès qu'il aura été analysé."
        ),
    },
    "class.error": {
        "forbidden": N_("Cette classe n'est pas la vôtre."),
        "absent": N_("Classe inconnue."),
    },
    "files.space": {
        "pedagogical": N_("Espace pédagogique"),
        "personnel": N_("PERSONNEL"),
    },
    "files.space_help": {
        "pedagogical": N_("Vos travaux de classe, sauvegardés chaque nuit."),
        "personnel": N_(
            "Votre espace privé : chiffré, jamais sauvegardé, personne d'autre que "
            "vous ne peut le lire, pas même l'administrateur."
        ),
    },
    "files.message": {
        "infected": N_("Fichier refusé : l'antivirus y a trouvé un virus."),
        "quota": N_("Espace plein : supprimez des fichiers ou demandez plus de place."),
        "refused": N_("Action refusée."),
        "name": N_(
            "Nom refusé : trop long (255 octets au plus), caractère interdit (/, \\,"
            " retour à la ligne, inversion du sens du texte), ou un fichier porte "
            "le nom d'un des dossiers du chemin."
        ),
        "deleted": N_("Supprimé."),
        "unlocked": N_("Espace PERSONNEL rouvert : il s'ouvre désormais avec votre mot de passe."),
        "unlock_wrong_password": N_("Le mot de passe actuel est erroné."),
        "unlock_throttled": N_("Trop de mots de passe erronés : patientez un moment."),
        "unlock_wrong_key": N_("Ancien mot de passe ou code de secours erroné."),
        "renamed": N_("Renommé."),
        "held": N_(
            "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra "
            "dès qu'il aura été analysé."
        ),
    },
    "audit": {
        "antivirus.infected": N_("Fichier infecté refusé"),
        "assignment.create": N_("Devoir créé"),
        "backup.restore": N_("Restauration depuis la sauvegarde"),
        "classes.rollover": N_("Passage à la nouvelle année"),
        "personnel.erase": N_("Espace PERSONNEL effacé"),
        "personnel.escrow": N_("Clé de secours PERSONNEL déposée"),
        "personnel.escrow_open": N_("Clé de secours PERSONNEL ouverte"),
        "personnel.reseal": N_("Espace PERSONNEL rescellé"),
        "personnel.unlock": N_("Espace PERSONNEL déverrouillé"),
        "productions.retrieval": N_("Fichiers d'un partant récupérés"),
        "productions.retrieval_code": N_("Code de récupération créé"),
    },
}
