"""The link with the collectivité's central MDM: signed policy down, reports up (issue #14)."""
