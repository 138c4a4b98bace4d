"""The storage's page strings, French first (CARMO #5.13), English second.

Merged into the admin app's catalogue by the registry (:mod:`appliance.features`);
a key may be defined once in the whole appliance.
"""

from __future__ import annotations

from typing import Final

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
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
        "class.message.late": ("La date limite est passée : le travail n'a pas été enregistré."),
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
            "Il ouvre votre espace PERSONNEL si vous perdez votre mot de passe. Il ne"
            " sera plus jamais affiché : recopiez-le et gardez-le chez vous."
        ),
        "files.usage": "Place utilisée",
        "files.usage_text": "{used} utilisés sur {quota}",
        "files.quota_warning": "Votre espace est rempli à plus de {percent} %.",
        "files.locked_title": "Espace PERSONNEL verrouillé",
        "files.locked_help": (
            "Votre mot de passe a changé dans l'annuaire : saisissez votre ancien mot"
            " de passe ou votre code de secours pour rouvrir votre espace."
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
        "files.message.quota": ("Espace plein : supprimez des fichiers ou demandez plus de place."),
        "files.message.refused": "Action refusée.",
        "files.message.name": (
            "Nom refusé : trop long (255 octets au plus), caractère interdit (/, \\, "
            "retour à la ligne, inversion du sens du texte), ou un fichier porte le "
            "nom d'un des dossiers du chemin."
        ),
        "files.message.deleted": "Supprimé.",
        "files.message.renamed": "Renommé.",
        "files.message.held": (
            "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra dès"
            " qu'il aura été analysé."
        ),
        "class.message.held": (
            "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra dès"
            " qu'il aura été analysé."
        ),
        "files.rename": "Renommer",
        "files.preview": "Aperçu",
        "files.new_name": "Nouveau nom",
    },
    "en": {
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
            "Your private space: encrypted, never backed up, nobody but you can read "
            "it, not even the administrator."
        ),
        "files.recovery_title": "Write down your recovery code",
        "files.recovery_help": (
            "It opens your PERSONNEL space if you lose your password. It will never "
            "be shown again: copy it and keep it at home."
        ),
        "files.usage": "Space used",
        "files.usage_text": "{used} used of {quota}",
        "files.quota_warning": "Your space is more than {percent} % full.",
        "files.locked_title": "PERSONNEL is locked",
        "files.locked_help": (
            "Your password changed in the directory: type your old password or your "
            "recovery code to open your space again."
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
            "Name refused: too long (255 bytes at most), a forbidden character (/, \\,"
            " line break, text direction override), or a file has the name of a "
            "folder on the path."
        ),
        "files.message.deleted": "Deleted.",
        "files.message.renamed": "Renamed.",
        "files.message.held": (
            "The antivirus is not answering: the file is kept aside and will appear "
            "once it has been scanned."
        ),
        "class.message.held": (
            "The antivirus is not answering: the file is kept aside and will appear "
            "once it has been scanned."
        ),
        "files.rename": "Rename",
        "files.preview": "Preview",
        "files.new_name": "New name",
    },
}
