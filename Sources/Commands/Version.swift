/// The version `--version` prints.
///
/// `scripts/build-production` writes the package's version (`scripts/version`)
/// into `PackageVersion.swift` beside this file and builds with
/// `-DBUILDOS_CLEAN_PACKAGE_VERSION`; any other build is a developer's,
/// and says so.
public enum BuildVersion {
    #if BUILDOS_CLEAN_PACKAGE_VERSION
        public static let text = PackageVersion.text
    #else
        public static let text = "0.1.0-dev"
    #endif
}
