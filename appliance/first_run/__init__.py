"""The first-run page: a new box is set up by its referent, from the admin LAN (#15 scope 3).

A box installed by the package is *pending* (``preau first-run begin``, run
by the package's postinst, writes the row and prints a one-time install
code). While it is pending the web app answers nothing but this page, and
only to the administration LAN (:func:`appliance.first_run.network.admin_lan_source`);
the install code proves the person is the one who installed the box, or was
handed the code with it. The page sets, in one form checked whole before
anything is written: the referent's local account (or the school's LDAP/AD
directory and the referent's login in it), the school (UAI, name, type),
which interface is the administration LAN (the features add the pupils'
Wi-Fi and the WAN, and the centre's enrolment token), and the device
certificate (a local CA made on the box, whose root the referent downloads
and pushes by MDM, or the collectivité's certificate). What it sets goes to
the settings file (:mod:`appliance.site_settings`); then every process
restarts on it. The demo and the tests never open a first run: without the
row nothing is pending.
"""
