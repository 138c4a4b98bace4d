"""UI strings, French first (CARMO #5.13), English second.

A flat catalogue keeps every string of a page in one place and lets a test
check that both languages define the same keys.

These are the kernel's strings; each feature keeps its own in its folder
(``<feature>/translations.py``), merged here by :func:`merged_catalogue`
through the registry. gettext catalogues (Babel) are to replace the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "skip": "Aller au contenu",
        "nav.dashboard": "Tableau de bord",
        "nav.directory": "Annuaire",
        "nav.settings": "Réglages",
        "nav.account": "Mon compte",
        "nav.logout": "Se déconnecter",
        "nav.language": "English",
        "login.title": "Connexion",
        "login.intro": "Connectez-vous avec votre compte de l'établissement.",
        "login.login": "Identifiant",
        "login.password": "Mot de passe",
        "login.submit": "Se connecter",
        "login.bad_credentials": "Identifiant ou mot de passe incorrect.",
        "login.directory_unreachable": (
            "L'annuaire de l'établissement ne répond pas. Réessayez dans quelques minutes."
        ),
        "login.departed": (
            "Ce compte n'est plus actif dans l'établissement. Pour récupérer vos "
            "fichiers, demandez un code de récupération au référent numérique et "
            "ouvrez la page « Récupérer mes fichiers » (/recuperer)."
        ),
        "login.throttled": "Trop de tentatives. Réessayez dans {seconds} secondes.",
        "login.missing": "Saisissez votre identifiant et votre mot de passe.",
        "dashboard.title": "Tableau de bord",
        "dashboard.services": "État des services",
        "dashboard.service": "Service",
        "dashboard.status": "État",
        "dashboard.detail": "Détail",
        "dashboard.host": "Machine",
        "dashboard.cpu": "Processeur",
        "dashboard.memory": "Mémoire",
        "dashboard.disk": "Disque (données)",
        "dashboard.uptime": "Démarré depuis",
        "dashboard.jobs": "Prochaines tâches de maintenance",
        "dashboard.job": "Tâche",
        "dashboard.window": "Fenêtre",
        "dashboard.next_run": "Prochaine exécution",
        "dashboard.audit": "Derniers événements",
        "status.ok": "Fonctionne",
        "status.degraded": "Dégradé",
        "status.down": "Injoignable",
        "status.stopped": "Arrêté",
        "service.web": "Interface d'administration",
        "service.directory": "Annuaire",
        "service.scheduler": "Planificateur",
        "service.filter": "Filtrage DNS",
        "service.portal": "Portail captif",
        "directory.title": "Annuaire",
        "directory.classes": "Classes",
        "directory.groups": "Groupes",
        "directory.people": "Personnes",
        "directory.name": "Nom",
        "directory.role": "Profil",
        "directory.class": "Classe",
        "directory.members": "Membres",
        "directory.departed": "Parti le {date}",
        "directory.filter": "Filtrer par classe",
        "directory.all": "Toutes",
        "directory.show": "Afficher",
        "role.pupil": "Élève",
        "role.teacher": "Enseignant·e",
        "role.staff": "Personnel",
        "role.referent": "Référent·e numérique",
        "settings.title": "Réglages",
        "settings.effective": "Configuration effective",
        "settings.closed_days": "Jours de fermeture exceptionnelle",
        "settings.day": "Date",
        "settings.reason": "Motif",
        "settings.add": "Ajouter",
        "settings.remove": "Retirer",
        "settings.none": "Aucun.",
        "account.title": "Mon compte",
        "account.no_admin": "Votre profil ne donne pas accès à l'administration de Préau.",
        "error.forbidden": "Accès refusé.",
        "nav.files": "Mes fichiers",
        "nav.class": "Ma classe",
        "retrieve.title": "Récupérer mes travaux",
        "retrieve.help": (
            "Vous avez quitté l'établissement : saisissez le code que l'on vous a "
            "remis. Ajoutez votre ancien mot de passe pour récupérer aussi votre "
            "espace PERSONNEL."
        ),
        "retrieve.code": "Code de récupération",
        "retrieve.password": "Ancien mot de passe (facultatif, pour PERSONNEL)",
        "retrieve.submit": "Télécharger mes travaux",
        "retrieve.bad_code": "Code inconnu ou expiré.",
        "retrieve.bad_password": (
            "Mot de passe incorrect pour PERSONNEL. Laissez le champ vide pour "
            "télécharger seulement l'espace pédagogique."
        ),
        "retrieve.slow": "Trop d'essais depuis cet appareil : patientez.",
        "class.title": "Ma classe",
        "class.show": "Afficher",
        "class.distribution": "Documents distribués",
        "class.hand_out": "Distribuer des documents",
        "class.assignments": "Travaux à rendre",
        "class.due": "à rendre avant le {date}",
        "class.handed_count": "{count} rendu(s)",
        "class.my_files": "Déjà rendu : {files}",
        "class.hand_in": "Rendre mon travail",
        "class.closed": "Date limite passée.",
        "class.no_assignment": "Aucun travail à rendre.",
        "class.new_assignment": "Nouveau travail à rendre",
        "class.deadline": "Date limite (facultative)",
        "class.message.refused": "Action refusée.",
        "class.message.late": "La date limite est passée : le travail n'a pas été enregistré.",
        "class.message.infected": "Fichier refusé : l'antivirus y a trouvé un virus.",
        "class.message.created": "Travail à rendre créé.",
        "class.error.forbidden": "Cette classe n'est pas la vôtre.",
        "class.error.absent": "Classe inconnue.",
        "dashboard.storage": "Espaces de travail",
        "dashboard.backup": "Dernière sauvegarde réussie",
        "dashboard.restore_test": "Dernier test de restauration",
        "dashboard.never": "jamais",
        "dashboard.backup_off": "Sauvegarde non configurée ([productions.backup]).",
        "dashboard.restore_person": "Compte",
        "dashboard.restore_path": "Fichier ou dossier (vide : tout l'espace)",
        "dashboard.restore": "Restaurer depuis la dernière sauvegarde",
        "dashboard.restored": "{count} fichier(s) restauré(s).",
        "dashboard.restore_failed": "Restauration impossible : {reason}",
        "files.title": "Mes fichiers",
        "files.spaces": "Mes espaces",
        "files.space.pedagogical": "Espace pédagogique",
        "files.space.personnel": "PERSONNEL",
        "files.space_help.pedagogical": "Vos travaux de classe, sauvegardés chaque nuit.",
        "files.space_help.personnel": (
            "Votre espace privé : chiffré, jamais sauvegardé, personne d'autre que "
            "vous ne peut le lire, pas même l'administrateur."
        ),
        "files.recovery_title": "Notez votre code de secours",
        "files.recovery_help": (
            "Il ouvre votre espace PERSONNEL si vous perdez votre mot de passe. Il "
            "ne sera plus jamais affiché : recopiez-le et gardez-le chez vous."
        ),
        "files.usage": "Place utilisée",
        "files.usage_text": "{used} utilisés sur {quota}",
        "files.quota_warning": "Votre espace est rempli à plus de {percent} %.",
        "files.locked_title": "Espace PERSONNEL verrouillé",
        "files.locked_help": (
            "Votre mot de passe a changé dans l'annuaire : saisissez votre ancien "
            "mot de passe ou votre code de secours pour rouvrir votre espace."
        ),
        "files.up": "Dossier parent",
        "files.empty": "Ce dossier est vide.",
        "files.delete": "Supprimer",
        "files.upload": "Ajouter des fichiers",
        "files.choose": "Fichiers à envoyer",
        "files.send": "Envoyer",
        "files.new_folder": "Nouveau dossier",
        "files.create": "Créer",
        "files.stored": "{count} fichier(s) enregistré(s).",
        "files.message.infected": "Fichier refusé : l'antivirus y a trouvé un virus.",
        "files.message.quota": "Espace plein : supprimez des fichiers ou demandez plus de place.",
        "files.message.refused": "Action refusée.",
        "files.message.name": (
            "Nom refusé : trop long (255 octets au plus), caractère interdit (/, \\,"
            " retour à la ligne, inversion du sens du texte), ou un fichier porte "
            "le nom d'un des dossiers du chemin."
        ),
        "files.message.deleted": "Supprimé.",
        "files.message.renamed": "Renommé.",
        "files.message.held": (
            "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra "
            "dès qu'il aura été analysé."
        ),
        "class.message.held": (
            "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra "
            "dès qu'il aura été analysé."
        ),
        "files.rename": "Renommer",
        "files.preview": "Aperçu",
        "files.new_name": "Nouveau nom",
    },
    "en": {
        "skip": "Skip to content",
        "nav.dashboard": "Dashboard",
        "nav.directory": "Directory",
        "nav.settings": "Settings",
        "nav.account": "My account",
        "nav.logout": "Log out",
        "nav.language": "Français",
        "login.title": "Log in",
        "login.intro": "Log in with your school account.",
        "login.login": "Username",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.bad_credentials": "Wrong username or password.",
        "login.directory_unreachable": (
            "The school directory is not answering. Try again in a few minutes."
        ),
        "login.departed": (
            "This account is no longer active at the school. To take your files "
            "away, ask the IT referent for a retrieval code and open /recuperer."
        ),
        "login.throttled": "Too many attempts. Try again in {seconds} seconds.",
        "login.missing": "Enter your username and password.",
        "dashboard.title": "Dashboard",
        "dashboard.services": "Services",
        "dashboard.service": "Service",
        "dashboard.status": "Status",
        "dashboard.detail": "Detail",
        "dashboard.host": "Host",
        "dashboard.cpu": "CPU",
        "dashboard.memory": "Memory",
        "dashboard.disk": "Disk (data)",
        "dashboard.uptime": "Up for",
        "dashboard.jobs": "Next maintenance jobs",
        "dashboard.job": "Job",
        "dashboard.window": "Window",
        "dashboard.next_run": "Next run",
        "dashboard.audit": "Latest events",
        "status.ok": "Working",
        "status.degraded": "Degraded",
        "status.down": "Unreachable",
        "status.stopped": "Stopped",
        "service.web": "Admin interface",
        "service.directory": "Directory",
        "service.scheduler": "Scheduler",
        "service.filter": "DNS filtering",
        "service.portal": "Captive portal",
        "directory.title": "Directory",
        "directory.classes": "Classes",
        "directory.groups": "Groups",
        "directory.people": "People",
        "directory.name": "Name",
        "directory.role": "Profile",
        "directory.class": "Class",
        "directory.members": "Members",
        "directory.departed": "Left on {date}",
        "directory.filter": "Filter by class",
        "directory.all": "All",
        "directory.show": "Show",
        "role.pupil": "Pupil",
        "role.teacher": "Teacher",
        "role.staff": "Staff",
        "role.referent": "IT referent",
        "settings.title": "Settings",
        "settings.effective": "Effective configuration",
        "settings.closed_days": "Extra closed days",
        "settings.day": "Date",
        "settings.reason": "Reason",
        "settings.add": "Add",
        "settings.remove": "Remove",
        "settings.none": "None.",
        "account.title": "My account",
        "account.no_admin": "Your profile does not give access to Préau's administration.",
        "error.forbidden": "Access denied.",
        "nav.files": "My files",
        "nav.class": "My class",
        "retrieve.title": "Take my work away",
        "retrieve.help": (
            "You have left the school: type the code you were given. Add your old "
            "password to take your PERSONNEL space too."
        ),
        "retrieve.code": "Retrieval code",
        "retrieve.password": "Old password (optional, for PERSONNEL)",
        "retrieve.submit": "Download my work",
        "retrieve.bad_code": "Unknown or expired code.",
        "retrieve.bad_password": (
            "Wrong password for PERSONNEL. Leave the field empty to download the "
            "pedagogical space only."
        ),
        "retrieve.slow": "Too many tries from this device: wait.",
        "class.title": "My class",
        "class.show": "Show",
        "class.distribution": "Handed-out documents",
        "class.hand_out": "Hand documents out",
        "class.assignments": "Work to hand in",
        "class.due": "due by {date}",
        "class.handed_count": "{count} handed in",
        "class.my_files": "Already handed in: {files}",
        "class.hand_in": "Hand my work in",
        "class.closed": "Deadline passed.",
        "class.no_assignment": "Nothing to hand in.",
        "class.new_assignment": "New work to hand in",
        "class.deadline": "Deadline (optional)",
        "class.message.refused": "Action refused.",
        "class.message.late": "The deadline has passed: the work was not stored.",
        "class.message.infected": "File refused: the antivirus found a virus in it.",
        "class.message.created": "Assignment created.",
        "class.error.forbidden": "This is not your class.",
        "class.error.absent": "Unknown class.",
        "dashboard.storage": "Work spaces",
        "dashboard.backup": "Last successful backup",
        "dashboard.restore_test": "Last restore test",
        "dashboard.never": "never",
        "dashboard.backup_off": "Backups are not configured ([productions.backup]).",
        "dashboard.restore_person": "Account",
        "dashboard.restore_path": "File or folder (empty: the whole space)",
        "dashboard.restore": "Restore from the last backup",
        "dashboard.restored": "{count} file(s) restored.",
        "dashboard.restore_failed": "Restore failed: {reason}",
        "files.title": "My files",
        "files.spaces": "My spaces",
        "files.space.pedagogical": "Class work space",
        "files.space.personnel": "PERSONNEL",
        "files.space_help.pedagogical": "Your class work, backed up every night.",
        "files.space_help.personnel": (
            "Your private space: encrypted, never backed up, nobody but you can "
            "read it, not even the administrator."
        ),
        "files.recovery_title": "Write down your recovery code",
        "files.recovery_help": (
            "It opens your PERSONNEL space if you lose your password. It will never"
            " be shown again: copy it and keep it at home."
        ),
        "files.usage": "Space used",
        "files.usage_text": "{used} used of {quota}",
        "files.quota_warning": "Your space is more than {percent} % full.",
        "files.locked_title": "PERSONNEL is locked",
        "files.locked_help": (
            "Your password changed in the directory: type your old password or your"
            " recovery code to open your space again."
        ),
        "files.up": "Parent folder",
        "files.empty": "This folder is empty.",
        "files.delete": "Delete",
        "files.upload": "Add files",
        "files.choose": "Files to send",
        "files.send": "Send",
        "files.new_folder": "New folder",
        "files.create": "Create",
        "files.stored": "{count} file(s) stored.",
        "files.message.infected": "File refused: the antivirus found a virus in it.",
        "files.message.quota": "Space full: delete files or ask for more space.",
        "files.message.refused": "Action refused.",
        "files.message.name": (
            "Name refused: too long (255 bytes at most), a forbidden character (/, "
            "\\, line break, text direction override), or a file has the name of a "
            "folder on the path."
        ),
        "files.message.deleted": "Deleted.",
        "files.message.renamed": "Renamed.",
        "files.message.held": (
            "The antivirus is not answering: the file is kept aside and will appear"
            " once it has been scanned."
        ),
        "class.message.held": (
            "The antivirus is not answering: the file is kept aside and will appear"
            " once it has been scanned."
        ),
        "files.rename": "Rename",
        "files.preview": "Preview",
        "files.new_name": "New name",
    },
}


Catalogue = Mapping[str, Mapping[str, str]]


def merged_catalogue(parts: Iterable[tuple[str, Catalogue]]) -> dict[str, dict[str, str]]:
    """Return the kernel's catalogue with each feature's merged in; a key defined twice fails."""
    merged: dict[str, dict[str, str]] = {lang: dict(CATALOGUE[lang]) for lang in CATALOGUE}
    owner = dict.fromkeys(CATALOGUE["fr"], "appliance")
    for name, catalogue in parts:
        for key in catalogue.get("fr", {}):
            if key in owner:
                raise ValueError(f"translation key {key!r} defined by {owner[key]} and {name}")
            owner[key] = name
        for lang, strings in catalogue.items():
            merged.setdefault(lang, {}).update(strings)
    return merged


def translator(lang: str, catalogue: dict[str, dict[str, str]] = CATALOGUE) -> Callable[..., str]:
    """Return ``t(key, **values)`` for a language, falling back to French."""
    strings = catalogue.get(lang, catalogue["fr"])
    french = catalogue["fr"]

    def translate(key: str, **values: object) -> str:
        text = strings.get(key) or french.get(key) or key
        return text.format(**values) if values else text

    return translate
