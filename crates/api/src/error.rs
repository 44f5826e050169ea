//! The errors the pure API functions return. The API server turns them into Kubernetes `Status`
//! bodies in one place; the messages here are what the user reads, so each names the field, the
//! bad value and what would be valid.

/// Why a field failed validation; maps onto Kubernetes' `CauseType` (`FieldValueInvalid`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// The value is malformed or out of range (`FieldValueInvalid`).
    Invalid,
    /// A required field is missing or empty (`FieldValueRequired`).
    Required,
    /// The value is not one of the allowed ones (`FieldValueNotSupported`).
    NotSupported,
    /// The value repeats one that must be unique (`FieldValueDuplicate`).
    Duplicate,
    /// The field may not be set or changed (`FieldValueForbidden`).
    Forbidden,
    /// The value is too long (`FieldValueTooLong`).
    TooLong,
}

impl FieldErrorKind {
    /// The Kubernetes `CauseType` string.
    pub fn cause_type(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
        }
    }
}

/// One invalid field, as a cause of a 422 Invalid answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, as Kubernetes writes it: `spec.template.spec.containers[0].image`.
    pub field: String,
    /// What is wrong with it.
    pub kind: FieldErrorKind,
    /// The offending value rendered for the message, when there is one.
    pub value: Option<String>,
    /// What would be valid, in words.
    pub detail: String,
}

impl FieldError {
    /// A field error of the given kind.
    pub fn new(
        kind: FieldErrorKind,
        field: impl Into<String>,
        value: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            kind,
            value,
            detail: detail.into(),
        }
    }

    /// An invalid value.
    pub fn invalid(
        field: impl Into<String>,
        value: impl ToString,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(
            FieldErrorKind::Invalid,
            field,
            Some(value.to_string()),
            detail,
        )
    }

    /// A missing required value.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }

    /// The message Kubernetes prints for this cause: `spec.replicas: Invalid value: -1: must be
    /// greater than or equal to 0`.
    pub fn message(&self) -> String {
        let what = match self.kind {
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
        };
        match &self.value {
            Some(v) => format!("{}: {what}: {v}: {}", self.field, self.detail),
            None => format!("{}: {what}: {}", self.field, self.detail),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}
