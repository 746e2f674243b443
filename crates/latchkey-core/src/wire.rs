//! The boilerplate of protocol value types, written once: closed sets of wire names (grant types,
//! authentication methods, algorithms, error codes) and validated strings.

/// A closed set of wire values from one table: `ALL` in the order given, `as_str`, `from_wire` and
/// `Display`. `as_str` is an exhaustive `match`, so a new variant does not compile until it has a row,
/// and `ALL` is built from the same rows, so it cannot miss one.
macro_rules! wire_enum {
    ($name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        impl $name {
            /// Every value, in the order they are listed (in metadata, in messages).
            pub const ALL: [$name; [$($wire),+].len()] = [$($name::$variant),+];

            /// The wire value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The value whose wire name is `text`, compared exactly.
            pub fn from_wire(text: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|value| value.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The serde bridge of a validated string type (`#[serde(try_from = "String", into = "String")]`):
/// deserialising goes through the type's own check, so an invalid value cannot be loaded either.
macro_rules! wire_text {
    ($name:ident, $error:ty, |$value:ident| $parse:expr) => {
        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from($value: String) -> Result<Self, Self::Error> {
                $parse
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}
