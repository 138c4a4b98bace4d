"""The school's private app store (#6.4, #7.37, #7.38): packages, assignments, install links."""
