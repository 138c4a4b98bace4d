"""The cache's page strings, French first (CARMO #5.13), English second.

Merged into the admin app's catalogue by the registry (:mod:`appliance.features`);
a key may be defined once in the whole appliance.
"""

from __future__ import annotations

from typing import Final

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "nav.cache": "Cache des mises à jour",
        "cache.title": "Cache des mises à jour",
        "cache.disabled": "Le cache n'est pas activé sur ce boîtier ([cache] enabled).",
        "cache.month": "Les 30 derniers jours",
        "cache.served": "Servi aux appareils",
        "cache.fetched": "Téléchargé sur Internet",
        "cache.saved": "Économisé",
        "cache.ratio": "Part servie par le cache",
        "cache.chart": "Octets servis (clair) et économisés (foncé) par jour, sur 30 jours.",
        "cache.table": "Les chiffres par jour",
        "cache.day": "Jour",
        "cache.classes": "Par type de contenu",
        "cache.class": "Type",
        "cache.hits": "Demandes servies du cache",
        "cache.objects": "Les fichiers les plus demandés",
        "cache.url": "Adresse",
        "cache.size": "Taille",
        "cache.present": "En cache",
        "cache.pinned": "préchargé",
        "cache.reach": "Comment les appareils passent par le cache",
        "cache.reach.dns": "Redirection DNS des serveurs de mises à jour",
        "cache.reach.pac": "Fichier de configuration de proxy (PAC) pour les appareils gérés",
        "cache.reach.do": (
            "Windows : option DHCP 235 et stratégie « Cache Server Hostname » de "
            "l'optimisation de la distribution"
        ),
        "cache.reach.apt": "Debian et Ubuntu (auto-apt-proxy)",
        "cache.reach.apple": (
            "Apple : le trafic Apple n'est jamais intercepté ; un Mac avec le cache"
            " de contenu le sert sur le réseau de l'établissement"
        ),
        "cache.on": "activée",
        "cache.check": "Vérifier que les appareils passent par le cache",
        "cache.check.ok": "Tout fonctionne : les appareils passent par le cache.",
        "cache.check.ko": "Une vérification a échoué : voir le détail ci-dessous.",
        "cache.check.what": "Vérification",
        "cache.check.result": "Résultat",
        "cache.check.seen": "Constaté",
        "cache.check.pass": "réussi",
        "cache.check.fail": "échec",
        "cache.apple.seen": (
            "Un Mac avec le cache de contenu s'est enregistré depuis ce réseau "
            "(dernière fois : {when})."
        ),
        "cache.apple.missing": (
            "Les appareils Apple ont cherché un cache de contenu {count} fois sans "
            "qu'aucun Mac ne s'enregistre : chaque iPad télécharge ses mises à jour"
            " sur Internet."
        ),
        "cache.apple.none": "Aucun appareil Apple n'a encore cherché de cache de contenu.",
        "cache.prestage": "Préchargement de nuit",
        "cache.prestage.help": (
            "Les adresses listées sont téléchargées pendant la fenêtre de "
            "maintenance de nuit, avec un débit limité, et gardées en cache : le "
            "matin, les tablettes les trouvent sur place. Le rapport ci-dessous dit"
            " ce qui était prêt à l'ouverture."
        ),
        "cache.prestage.saved": "Liste enregistrée.",
        "cache.prestage.requested": "Préchargement demandé : il commence dans quelques secondes.",
        "cache.prestage.now": "Précharger maintenant",
        "cache.run.when": "Date",
        "cache.run.status": "État",
        "cache.run.done": "Prêts",
        "cache.run.failed": "En échec",
        "cache.run.left": "Restants",
        "cache.status.requested": "demandé",
        "cache.status.running": "en cours",
        "cache.status.done": "terminé",
        "cache.status.stopped": "arrêté à la fin de la fenêtre",
        "cache.status.failed": "non pris en charge",
        "cache.plan.ready": "prêts",
        "cache.plan.failed": "en échec",
        "cache.plan.name": "Nom de la liste",
        "cache.plan.name.help": "Lettres minuscules, chiffres et tirets (ex. chariot-ipad).",
        "cache.plan.urls": "Adresses",
        "cache.plan.urls.help": (
            "Une adresse http:// par ligne, suivie si possible de son empreinte "
            "SHA-256. Une liste vide supprime la liste."
        ),
        "cache.plan.save": "Enregistrer la liste",
        "cache.off": "désactivée",
    },
    "en": {
        "nav.cache": "Update cache",
        "cache.title": "Update cache",
        "cache.disabled": "The cache is not enabled on this box ([cache] enabled).",
        "cache.month": "The last 30 days",
        "cache.served": "Served to devices",
        "cache.fetched": "Downloaded from the Internet",
        "cache.saved": "Saved",
        "cache.ratio": "Share served by the cache",
        "cache.chart": "Bytes served (light) and saved (dark) per day, over 30 days.",
        "cache.table": "Figures per day",
        "cache.day": "Day",
        "cache.classes": "Per content type",
        "cache.class": "Type",
        "cache.hits": "Requests served from the cache",
        "cache.objects": "Most requested files",
        "cache.url": "Address",
        "cache.size": "Size",
        "cache.present": "Cached",
        "cache.pinned": "pre-staged",
        "cache.reach": "How devices reach the cache",
        "cache.reach.dns": "DNS steering of update servers",
        "cache.reach.pac": "Proxy auto-configuration (PAC) file for managed devices",
        "cache.reach.do": (
            'Windows: DHCP option 235 and the Delivery Optimization "Cache Server Hostname" policy'
        ),
        "cache.reach.apt": "Debian and Ubuntu (auto-apt-proxy)",
        "cache.reach.apple": (
            "Apple: Apple traffic is never intercepted; a Mac running content "
            "caching serves it on the school network"
        ),
        "cache.on": "on",
        "cache.check": "Check that devices go through the cache",
        "cache.check.ok": "All works: devices go through the cache.",
        "cache.check.ko": "A check failed: see the details below.",
        "cache.check.what": "Check",
        "cache.check.result": "Result",
        "cache.check.seen": "Seen",
        "cache.check.pass": "passed",
        "cache.check.fail": "failed",
        "cache.apple.seen": (
            "A Mac running content caching registered from this network (last time: {when})."
        ),
        "cache.apple.missing": (
            "Apple devices looked for a content cache {count} times and no Mac "
            "registered: every iPad downloads its updates from the Internet."
        ),
        "cache.apple.none": "No Apple device has looked for a content cache yet.",
        "cache.prestage": "Night pre-staging",
        "cache.prestage.help": (
            "Listed addresses are downloaded in the night maintenance window, at a "
            "limited rate, and kept in the cache: in the morning the tablets find "
            "them on site. The report below says what was ready when school opened."
        ),
        "cache.prestage.saved": "List saved.",
        "cache.prestage.requested": "Pre-staging requested: it starts within seconds.",
        "cache.prestage.now": "Pre-stage now",
        "cache.run.when": "Date",
        "cache.run.status": "Status",
        "cache.run.done": "Ready",
        "cache.run.failed": "Failed",
        "cache.run.left": "Left",
        "cache.status.requested": "requested",
        "cache.status.running": "running",
        "cache.status.done": "finished",
        "cache.status.stopped": "stopped at the window's end",
        "cache.status.failed": "not taken",
        "cache.plan.ready": "ready",
        "cache.plan.failed": "failed",
        "cache.plan.name": "List name",
        "cache.plan.name.help": "Lower-case letters, digits and dashes (e.g. ipad-cart).",
        "cache.plan.urls": "Addresses",
        "cache.plan.urls.help": (
            "One http:// address per line, followed if possible by its SHA-256. An "
            "empty list deletes the list."
        ),
        "cache.plan.save": "Save the list",
        "cache.off": "off",
    },
}
