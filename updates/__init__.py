"""Self-updates of a box's system: signed A/B slots, a health gate, and the way back.

A box that serves a school's DHCP and DNS is updated as a whole system, never
package by package (image-build/README.md, « Images »): the disk holds two
read-only root slots; an update is a RAUC bundle signed with the project's
key, written to the slot that is not running; GRUB boots the new slot up to
three times; the health gate (:mod:`updates.gate`, run at every boot by
``preau-update-gate.service``) keeps it only when the web UI, the DNS filter
and the portal answer within five minutes, and otherwise marks it bad and
reboots into the old one. Nobody on site does anything.

- :mod:`updates.preflight` (pure) decides before anything is touched: the
  maintenance window, the free space (the artefact, what it unpacks, 10 %).
- :mod:`updates.rauc` is the adapter to RAUC's command line.
- :mod:`updates.record` keeps the update in progress on the data partition,
  so that the boot after it knows whether it came back on the old slot, and
  puts the outcome in the centre's outbox.
- :mod:`updates.cli` is ``preau update …``.
"""
