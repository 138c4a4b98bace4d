"""Productions storage: each person's pedagogical space and private PERSONNEL space.

The pedagogical space is plain files, backed up (#7.15, #8.4). PERSONNEL
(#8.6, #7.28) is never backed up (#7.16) and is encrypted so that no
administrator can read it (#7.30, #7.31): see ``vault.py`` for the keys,
``personnel.py`` for the on-disk layout, and ``docs/personnel-threat-model.md``.
"""
