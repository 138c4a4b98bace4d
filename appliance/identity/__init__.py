"""Identity: who may log in and with which role (#5.19, #5.27, #7.53-#7.55).

Two backends feed one :class:`~appliance.identity.directory.Directory`:
local accounts (argon2id, for small schools and the demo) and an LDAP / Active
Directory server reached over StartTLS or LDAPS. A sync job copies classes,
groups and memberships into the state DB so the appliance keeps working when
the directory is down, and marks people who vanished as departed.
"""
