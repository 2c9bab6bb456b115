//! The standard library, embedded so imports work offline and nothing hunts
//! for install paths. Each module is ordinary iotc source in `stdlib/`.

/// `(module, source)` for `import std.<module>`.
pub const MODULES: &[(&str, &str)] = &[
    ("cloud", include_str!("../../stdlib/cloud.iot")),
    ("devices", include_str!("../../stdlib/devices.iot")),
    ("ml", include_str!("../../stdlib/ml.iot")),
    ("runtimes", include_str!("../../stdlib/runtimes.iot")),
    ("services", include_str!("../../stdlib/services.iot")),
];

/// The module whose items are in scope without an import (`runtime = k3s`).
pub const PRELUDE: &str = "runtimes";

pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
