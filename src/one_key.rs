//! Objects with exactly one key, naming the kind of what they hold (serde's externally
//! tagged enums: `{"rolling": {…}}`, `{"threshold": {…}}`), read so that a second key
//! is refused by name, at its path, instead of as broken syntax ("expected value").
//!
//! A kind may also be written as its bare name (`"all_at_once"`, `"pause"`) when it
//! holds nothing or its value may be empty: the name then reads as the kind with an
//! empty value, and a kind that needs a value says so.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapDeserializer, StrDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, VariantAccess,
    Visitor,
};

use crate::error::excerpt;

/// Reads a `T` written as one key (`#[serde(deserialize_with = ...)]`).
pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    deserializer.deserialize_any(OneKey(PhantomData))
}

/// Reads an optional `T` written as one key, or `null`.
pub(crate) fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    struct Optional<T>(PhantomData<T>);
    impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Optional<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("null or an object with one key")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
            deserialize(deserializer).map(Some)
        }
    }
    deserializer.deserialize_option(Optional(PhantomData))
}

/// The [`Visitor`] of [`deserialize`].
struct OneKey<T>(PhantomData<T>);

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for OneKey<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with one key, the kind of what it holds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::deserialize(BareName::new(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        one_entry(
            map,
            "this object has one key, the kind of what it holds: move it to where it belongs",
        )
    }
}

/// Reads `map`'s one entry as a `T` (an externally tagged enum), and refuses a second
/// key, naming it, with `advice` on what to do about it.
pub(crate) fn one_entry<'de, A, T>(mut map: A, advice: &'static str) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    T: de::Deserialize<'de>,
{
    let Some(key) = map.next_key::<String>()? else {
        return Err(de::Error::custom(
            "an empty object: write one key, the kind of what it holds",
        ));
    };
    let value = T::deserialize(FirstEntry {
        key: key.clone(),
        map: &mut map,
    })?;
    // Read as a key, so that a reader that tracks paths names the second key.
    map.next_key_seed(SecondKey {
        first: &key,
        advice,
    })?;
    Ok(value)
}

/// The entry whose key was already read: the kind (an enum's variant) and its value.
struct FirstEntry<'a, A> {
    key: String,
    map: &'a mut A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for FirstEntry<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, 'a, A: MapAccess<'de>> EnumAccess<'de> for FirstEntry<'a, A> {
    type Error = A::Error;
    type Variant = EntryValue<'a, A>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, EntryValue<'a, A>), A::Error> {
        let variant = seed.deserialize(self.key.into_deserializer())?;
        Ok((variant, EntryValue(self.map)))
    }
}

/// The entry's value, read as the variant's content.
struct EntryValue<'a, A>(&'a mut A);

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for EntryValue<'_, A> {
    type Error = A::Error;

    /// A kind that holds nothing: `null`, or `{}` as in `{"pause": {}}`.
    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.next_value::<Nothing>().map(|_| ())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(TupleContent { len, visitor })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(StructContent { fields, visitor })
    }
}

/// A tuple variant's content.
struct TupleContent<V> {
    len: usize,
    visitor: V,
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for TupleContent<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_tuple(self.len, self.visitor)
    }
}

/// A struct variant's content.
struct StructContent<V> {
    fields: &'static [&'static str],
    visitor: V,
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for StructContent<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_struct("", self.fields, self.visitor)
    }
}

/// The value of a kind that holds nothing: `null` or an empty object.
struct Nothing;

impl<'de> de::Deserialize<'de> for Nothing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NothingVisitor;
        impl<'de> Visitor<'de> for NothingVisitor {
            type Value = Nothing;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("nothing: null or {}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Nothing, E> {
                Ok(Nothing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Nothing, E> {
                Ok(Nothing)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nothing, A::Error> {
                // Named by the reader as an unknown field, at its path.
                match map.next_key::<Unexpected>()? {
                    Some(never) => match never {},
                    None => Ok(Nothing),
                }
            }
        }
        deserializer.deserialize_any(NothingVisitor)
    }
}

/// A key where none is allowed: refused by name, so never read.
enum Unexpected {}

impl<'de> de::Deserialize<'de> for Unexpected {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = <String as de::Deserialize>::deserialize(deserializer)?;
        Err(de::Error::custom(format!(
            "unknown field `{}`: this kind holds nothing (write {{}} or null)",
            excerpt(&key)
        )))
    }
}

/// A key after the first, refused by name.
struct SecondKey<'a> {
    first: &'a str,
    advice: &'static str,
}

impl<'de> DeserializeSeed<'de> for SecondKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let second = <String as de::Deserialize>::deserialize(deserializer)?;
        Err(de::Error::custom(format!(
            "`{}` beside `{}`: {}",
            excerpt(&second),
            excerpt(self.first),
            self.advice
        )))
    }
}

/// A kind written as its bare name: the kind with an empty value (no value, `null`, or
/// an empty object), or a refusal saying it needs one.
pub(crate) struct BareName<'a, E> {
    name: &'a str,
    error: PhantomData<E>,
}

impl<'a, E: de::Error> BareName<'a, E> {
    /// Reads `name` as a kind.
    pub(crate) fn new(name: &'a str) -> Self {
        BareName {
            name,
            error: PhantomData,
        }
    }

    fn needs_value(&self) -> E {
        let name = excerpt(self.name);
        E::custom(format!(
            "`{name}` needs a value: write it as an object with one key, {{\"{name}\": …}}"
        ))
    }
}

impl<'de, E: de::Error> Deserializer<'de> for BareName<'_, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_str(self.name)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl<'de, E: de::Error> EnumAccess<'de> for BareName<'_, E> {
    type Error = E;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), E> {
        let variant = seed.deserialize(StrDeserializer::<E>::new(self.name))?;
        Ok((variant, self))
    }
}

impl<'de, E: de::Error> VariantAccess<'de> for BareName<'_, E> {
    type Error = E;

    fn unit_variant(self) -> Result<(), E> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, E> {
        seed.deserialize(EmptyValue::<E>(PhantomData))
            .map_err(|_| self.needs_value())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, E> {
        Err(self.needs_value())
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor
            .visit_map(empty_map::<E>())
            .map_err(|_| self.needs_value())
    }
}

/// An empty map, for a struct whose fields all have defaults.
fn empty_map<'de, E: de::Error>() -> impl MapAccess<'de, Error = E> {
    MapDeserializer::<_, E>::new(std::iter::empty::<(&str, ())>())
}

/// The value of a kind written as its bare name: nothing, which a struct reads as `{}`
/// (all its defaults), an option as `null`, and anything else as `()`.
struct EmptyValue<E>(PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for EmptyValue<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_none()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_map(empty_map::<E>())
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_map(empty_map::<E>())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct enum identifier ignored_any
    }
}
