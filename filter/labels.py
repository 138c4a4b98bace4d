"""The filter's service, override actions and request states, named for its pages."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "filtering.action": {
        "block_all": N_("Couper internet"),
        "allowlist_only": N_("Liste autorisée seulement"),
        "block_domains": N_("Bloquer ces sites"),
        "tighten": N_("Durcir les catégories"),
    },
    "filtering.request": {
        "allowed": N_("Autoriser"),
        "refused": N_("Refuser"),
        "open": N_("En attente"),
    },
    # What the teacher's page says after a tap.
    "filtering.tap": {
        "applied": N_("C'est fait : le contrôle est en place pour toute la classe."),
        "restored": N_("Internet rétabli pour la classe."),
        "extended": N_("Prolongé jusqu'à la fin du créneau suivant."),
    },
    "filtering.status": {
        "allowed": N_("Autorisé"),
        "refused": N_("Refusé"),
    },
    "service": {
        "filter": N_("Filtrage DNS"),
    },
    # UT1's categories (https://dsi.ut-capitole.fr/blacklists/), in words a pupil reads
    # on the block page; a list of the school's own keeps the name it was given.
    # The default filtering groups (a group the referent adds shows its own name).
    "filtering.group": {
        "ecole": N_("Élèves d'école"),
        "college": N_("Collégiens"),
        "lycee": N_("Lycéens"),
        "guests": N_("Invités"),
        "unknown": N_("Appareils inconnus"),
        "teachers": N_("Enseignants"),
        "staff": N_("Personnels"),
    },
    "filtering.engine": {
        "google": N_("Google : SafeSearch"),
        "bing": N_("Bing : recherche stricte"),
        "duckduckgo": N_("DuckDuckGo : recherche protégée"),
        "brave": N_("Brave Search : recherche protégée"),
    },
    "filtering.youtube": {
        "strict": N_("mode restreint strict"),
        "moderate": N_("mode restreint modéré"),
        "off": N_("sans restriction"),
    },
    "filtering.category": {
        "adult": N_("Contenus pour adultes"),
        "agressif": N_("Contenus agressifs ou haineux"),
        "arjel": N_("Jeux d'argent en ligne"),
        "astrology": N_("Astrologie"),
        "audio-video": N_("Audio et vidéo"),
        "bitcoin": N_("Cryptomonnaies"),
        "blog": N_("Blogs"),
        "celebrity": N_("Célébrités"),
        "chat": N_("Messageries instantanées"),
        "cooking": N_("Cuisine"),
        "cryptojacking": N_("Minage caché de cryptomonnaie"),
        "dangerous_material": N_("Matériel dangereux"),
        "dating": N_("Sites de rencontre"),
        "ddos": N_("Attaques par saturation"),
        "download": N_("Téléchargement"),
        "drogue": N_("Drogues"),
        "filehosting": N_("Hébergement de fichiers"),
        "forums": N_("Forums"),
        "gambling": N_("Jeux d'argent"),
        "games": N_("Jeux en ligne"),
        "hacking": N_("Piratage informatique"),
        "lingerie": N_("Lingerie"),
        "malware": N_("Logiciels malveillants"),
        "manga": N_("Mangas"),
        "marketingware": N_("Logiciels publicitaires"),
        "mixed_adult": N_("Contenus en partie pour adultes"),
        "phishing": N_("Hameçonnage"),
        "publicite": N_("Publicité"),
        "radio": N_("Radios en ligne"),
        "redirector": N_("Contournement du filtrage"),
        "remote-control": N_("Prise de contrôle à distance"),
        "sect": N_("Mouvements sectaires"),
        "shopping": N_("Achats en ligne"),
        "shortener": N_("Raccourcisseurs d'adresses"),
        "social_networks": N_("Réseaux sociaux"),
        "sports": N_("Sports"),
        "stalkerware": N_("Logiciels espions"),
        "strict_redirector": N_("Contournement du filtrage"),
        "strong_redirector": N_("Contournement du filtrage"),
        "tricheur": N_("Triche aux examens"),
        "vpn": N_("Réseaux privés (VPN)"),
        "warez": N_("Téléchargement illégal"),
        "webmail": N_("Messageries web"),
    },
    "audit": {
        "filter.override.block_all": N_("Internet coupé pour une classe"),
        "filter.override.allowlist_only": N_("Liste autorisée seulement pour une classe"),
        "filter.override.block_domains": N_("Sites bloqués pour une classe"),
        "filter.override.tighten": N_("Catégories durcies pour une classe"),
        "filter.override.end": N_("Contrôle de classe levé"),
        "filter.override.extend": N_("Contrôle de classe prolongé"),
        "filter.override.takeover": N_("Contrôle de classe repris"),
        "filter.unblock_request": N_("Demande de déblocage"),
    },
}
