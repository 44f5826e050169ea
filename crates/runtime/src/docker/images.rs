//! Images: making sure one is present before a container is created (pulling only when a
//! registry answers), and loading image tarballs for air-gapped sites (`docker load`).

use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptionsBuilder, ImportImageOptionsBuilder};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncReadExt;

use super::errors::{IMPORT_HINT, is_not_found};
use crate::RuntimeError;

/// The reference to pull: the image as written, with `:latest` added when it names neither a
/// tag nor a digest (a bare `fromImage` would pull every tag of the repository).
pub fn pull_reference(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// The image names (or ids, for untagged images) that `docker load` reports having loaded,
/// from its progress messages (`Loaded image: NAME`, `Loaded image ID: sha256:…`).
pub fn loaded_names<'a>(messages: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names = Vec::new();
    for line in messages.into_iter().flat_map(str::lines) {
        let name = line
            .strip_prefix("Loaded image: ")
            .or_else(|| line.strip_prefix("Loaded image ID: "));
        if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty())
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// Makes sure `image` is present: it is when `docker inspect` finds it; otherwise it is
/// pulled within `pull_timeout` if `pull` allows it. A failed or refused pull is
/// `ImageNotFound` with the import hint.
pub async fn ensure(
    docker: &Docker,
    image: &str,
    pull: bool,
    pull_timeout: Duration,
) -> Result<(), RuntimeError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(RuntimeError::Backend(format!(
                "docker: inspect image {image}: {e}"
            )));
        }
    }
    if !pull {
        return Err(RuntimeError::ImageNotFound {
            image: image.to_string(),
            detail: format!(
                "pulling is off on this node (start the agent with --pull-images where a registry is reachable); {IMPORT_HINT}"
            ),
        });
    }
    let reference = pull_reference(image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(&reference)
        .build();
    let pull = docker
        .create_image(Some(options), None, None)
        .try_collect::<Vec<_>>();
    let why = match tokio::time::timeout(pull_timeout, pull).await {
        Ok(Ok(_)) => match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                format!("the pull of {reference} reported success but the image is absent: {e}")
            }
        },
        Ok(Err(e)) => format!("no registry could provide it ({e})"),
        Err(_) => format!("no registry answered within {}s", pull_timeout.as_secs()),
    };
    Err(RuntimeError::ImageNotFound {
        image: image.to_string(),
        detail: format!("{why}; {IMPORT_HINT}"),
    })
}

/// Loads an image archive (`docker save` output) into the engine and returns the names it
/// held.
pub async fn import(docker: &Docker, tar: &Path) -> Result<Vec<String>, RuntimeError> {
    let file = tokio::fs::File::open(tar).await.map_err(|e| {
        RuntimeError::InvalidConfig(format!("cannot open image archive {}: {e}", tar.display()))
    })?;
    // Stream the file in 256 KiB pieces: image archives can be far larger than memory allows.
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = BytesMut::with_capacity(256 * 1024);
        let n = file.read_buf(&mut buf).await?;
        Ok::<_, std::io::Error>((n > 0).then(|| (Bytes::from(buf), file)))
    });
    let options = ImportImageOptionsBuilder::new().quiet(false).build();
    let infos: Vec<_> = docker
        .import_image_stream(options, chunks, None)
        .map_err(|e| {
            RuntimeError::InvalidConfig(format!(
                "{} is not a loadable image archive: {e}",
                tar.display()
            ))
        })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let messages: Vec<&str> = infos.iter().filter_map(|i| i.stream.as_deref()).collect();
    let names = loaded_names(messages);
    if names.is_empty() {
        return Err(RuntimeError::InvalidConfig(format!(
            "{} held no image: make it with docker save",
            tar.display()
        )));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_reference_adds_latest_only_without_tag_or_digest() {
        assert_eq!(pull_reference("busybox"), "busybox:latest");
        assert_eq!(pull_reference("brume/pause:1"), "brume/pause:1");
        assert_eq!(
            pull_reference("registry.local:5000/app"),
            "registry.local:5000/app:latest"
        );
        assert_eq!(pull_reference("app@sha256:abcd"), "app@sha256:abcd");
    }

    #[test]
    fn loaded_names_reads_docker_load_messages() {
        let names = loaded_names([
            "Loaded image: brume/busybox:1\n",
            "Loaded image ID: sha256:1234\n",
            "Loaded image: brume/busybox:1\n",
            "unrelated\n",
        ]);
        assert_eq!(names, vec!["brume/busybox:1", "sha256:1234"]);
    }
}
