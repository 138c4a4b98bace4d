"""What the app store's API answers, one model per answer (the OpenAPI document shows them)."""

from __future__ import annotations

from appliance.web.api_routes import Reply


class Assignment(Reply):
    """Who may install a package: the school, a role, a class, a group or a person."""

    kind: str
    target: str


class Package(Reply):
    """An app package (never its MDM token, which is a download right)."""

    id: int
    platform: str
    name: str
    package_id: str
    version_name: str
    version_code: int
    filename: str
    size: int
    sha256: str
    certificates: list[str]
    description: str
    uploaded_by: str
    uploaded_at: float
    assignments: list[Assignment]


class ListedPackage(Package):
    """A package with the link an MDM installs it from."""

    mdm_url: str


class PackagesReply(Reply):
    """The school's packages, newest first."""

    packages: list[ListedPackage]


class PackageRemoved(Reply):
    """The package removed."""

    removed: int


class ManagedPlayApk(Reply):
    """Managed Google Play's ``ExternallyHostedApk`` definition."""

    application_label: str
    package_name: str
    version_code: int
    version_name: str
    file_size: str
    file_sha256_base64: str
    externally_hosted_url: str
    certificate_base64s: list[str]


class MyApp(Reply):
    """An app I may install, and how."""

    id: int
    platform: str
    name: str
    package_id: str
    version_name: str
    size: int
    sha256: str
    description: str
    install: str


class MyAppsReply(Reply):
    """The apps I may install."""

    packages: list[MyApp]
