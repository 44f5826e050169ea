//! Pure classification of Docker errors into [`RuntimeError`]s that say what to do.

use bollard::errors::Error;

use crate::RuntimeError;

/// What the user is told when an image is absent and cannot be pulled.
pub const IMPORT_HINT: &str = "import it with: brume image import FILE.tar, or docker load";

/// The HTTP status of a Docker error response, if it is one.
pub fn status(err: &Error) -> Option<u16> {
    match err {
        Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether Docker answered 404 (no such container, image or exec).
pub fn is_not_found(err: &Error) -> bool {
    status(err) == Some(404)
}

/// Whether Docker answered 409 (a name in use, a removal already under way).
pub fn is_conflict(err: &Error) -> bool {
    status(err) == Some(409)
}

/// A failure of the engine, or `NotFound` for a 404 about `what`.
pub fn backend(what: &str, err: Error) -> RuntimeError {
    if is_not_found(&err) {
        RuntimeError::NotFound(what.to_string())
    } else {
        RuntimeError::Backend(format!("docker: {what}: {err}"))
    }
}

/// The command named in an OCI runtime start error, when the error says the command cannot be
/// run: `exec: "foo": executable file not found in $PATH`, `stat /x: no such file or directory`,
/// `exec format error` or `permission denied`. `fallback` names the command when the message
/// does not.
pub fn command_not_found(message: &str, fallback: Option<&str>) -> Option<RuntimeError> {
    const SIGNS: [&str; 4] = [
        "executable file not found",
        "no such file or directory",
        "exec format error",
        "permission denied",
    ];
    if !message.contains("exec") || !SIGNS.iter().any(|s| message.contains(s)) {
        return None;
    }
    let named = message
        .split("exec: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next());
    let command = named
        .or(fallback)
        .unwrap_or("the image entrypoint")
        .to_string();
    let detail = SIGNS
        .iter()
        .find(|s| message.contains(*s))
        .map(|s| match *s {
            "executable file not found" => "executable file not found in $PATH".to_string(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    Some(RuntimeError::CommandNotFound { command, detail })
}

/// Whether a sandbox start failed because a host port is already taken.
pub fn is_port_in_use(message: &str) -> bool {
    message.contains("address already in use") || message.contains("port is already allocated")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Messages as Docker 20.10 (Debian's docker.io) returns them.
    const NOT_IN_PATH: &str = "OCI runtime create failed: container_linux.go:380: starting container process caused: exec: \"nosuchcmd\": executable file not found in $PATH: unknown";
    const ABSOLUTE: &str = "OCI runtime create failed: container_linux.go:380: starting container process caused: exec: \"/bin/nope\": stat /bin/nope: no such file or directory: unknown";

    #[test]
    fn command_not_found_names_the_command() {
        let Some(RuntimeError::CommandNotFound { command, detail }) =
            command_not_found(NOT_IN_PATH, Some("x"))
        else {
            panic!("not classified")
        };
        assert_eq!(command, "nosuchcmd");
        assert!(detail.contains("not found in $PATH"));
        let Some(RuntimeError::CommandNotFound { command, .. }) = command_not_found(ABSOLUTE, None)
        else {
            panic!("not classified")
        };
        assert_eq!(command, "/bin/nope");
    }

    #[test]
    fn other_start_errors_are_not_command_errors() {
        assert!(
            command_not_found("driver failed programming external connectivity", Some("x"))
                .is_none()
        );
        assert!(
            command_not_found(
                "invalid mount config: bind source path does not exist",
                None
            )
            .is_none()
        );
    }

    #[test]
    fn port_in_use_is_recognised() {
        assert!(is_port_in_use(
            "Error starting userland proxy: listen tcp4 127.0.0.1:40000: bind: address already in use"
        ));
        assert!(is_port_in_use(
            "Bind for 0.0.0.0:40000 failed: port is already allocated"
        ));
        assert!(!is_port_in_use("no such image"));
    }

    #[test]
    fn not_found_maps_to_not_found() {
        let err = Error::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x".into(),
        };
        assert!(
            matches!(backend("container x", err), RuntimeError::NotFound(w) if w == "container x")
        );
        let err = Error::DockerResponseServerError {
            status_code: 500,
            message: "boom".into(),
        };
        assert!(
            matches!(backend("container x", err), RuntimeError::Backend(m) if m.contains("boom"))
        );
    }
}
