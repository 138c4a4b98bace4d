"""Write a UT1-shaped tree: 65 categories, ~5.2 M domains, deterministic.

Sizes follow the real lists (adult 4.6 M, malware 271 k, phishing a copy of
malware, redirector 133 k …; ``../shared/anchors/dns-filter.md`` §c), with
``urls`` and ``expressions`` files as UT1 has. Run:
``.venv/bin/python bench/gen_ut1.py OUT_DIR [--scale 1.0]``.
"""

from __future__ import annotations

import argparse
import random
import string
from pathlib import Path

SIZES = {
    "adult": 4_600_370,
    "malware": 271_346,
    "redirector": 132_616,
    "jobsearch": 60_741,
    "shopping": 36_971,
    "games": 35_396,
    "gambling": 32_252,
    "cryptojacking": 11_492,
    "dating": 6_519,
    "vpn": 6_039,
    "doh": 3_016,
    "dynamic-dns": 2_077,
    "drogue": 1_067,
    "social_networks": 716,
    "agressif": 396,
}
SMALL = [
    "arjel",
    "astrology",
    "audio-video",
    "bank",
    "bitcoin",
    "blog",
    "celebrity",
    "chat",
    "child",
    "cleaning",
    "cooking",
    "dangerous_material",
    "ddos",
    "download",
    "educational_games",
    "filehosting",
    "financial",
    "forums",
    "hacking",
    "lingerie",
    "liste_blanche",
    "manga",
    "marketingware",
    "mixed_adult",
    "mobile-phone",
    "press",
    "publicite",
    "radio",
    "reaffected",
    "remote-control",
    "sect",
    "sexual_education",
    "special",
    "sports",
    "stalkerware",
    "strict_redirector",
    "strong_redirector",
    "translation",
    "tricheur",
    "update",
    "warez",
    "webmail",
    "associations_religieuses",
    "examen_pix",
    "fakenews",
    "residential-proxies",
    "sports_betting",
    "ai",
    "proxy",
]
TLDS = ["com", "net", "org", "fr", "de", "ru", "info", "xyz", "io", "co.uk", "top", "site"]
SEED = 20261122


def label(rng: random.Random) -> str:
    """Return a random DNS label."""
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(6, 14)))


def generate(out: Path, scale: float = 1.0, seed: int = SEED) -> dict[str, int]:
    """Write the tree under ``out/blacklists``; return the size of each category."""
    rng = random.Random(seed)
    root = out / "blacklists"
    sizes = {name: max(1, int(count * scale)) for name, count in SIZES.items()}
    sizes.update({name: max(1, int(200 * scale)) for name in SMALL})
    malware: list[str] = []
    for category, count in sizes.items():
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"{label(rng)}.{rng.choice(TLDS)}" for _ in range(count)]
        if category == "malware":
            malware = names
        (folder / "domains").write_text("\n".join(names) + "\n")
        (folder / "urls").write_text("\n".join(f"{n}/page" for n in names[:50]) + "\n")
    # UT1's phishing is a copy of malware ("no longer maintained").
    phishing = root / "phishing"
    phishing.mkdir(exist_ok=True)
    (phishing / "domains").write_text("\n".join(malware) + "\n")
    sizes["phishing"] = len(malware)
    (root / "adult" / "expressions").write_text("(porn|xxx|sex)\n")
    (out / "SEED").write_text(f"{seed} {scale}\n")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    sizes = generate(args.out, args.scale)
    print(f"{sum(sizes.values())} domains in {len(sizes)} categories under {args.out}")


if __name__ == "__main__":
    main()
