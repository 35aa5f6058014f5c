//! The images in the Docker engine, for the node's `status.images` (repository digests,
//! then tags, and the size, as the kubelet lists them).

use bollard::query_parameters::ListImagesOptions;

use super::DockerRuntime;
use crate::runtime::Image;
use crate::{Error, Result};

impl DockerRuntime {
    /// `docker image ls`, as [`Image`]s.
    pub(super) async fn images(&self) -> Result<Vec<Image>> {
        let docker = self.docker()?;
        let list = docker
            .list_images(Some(ListImagesOptions::default()))
            .await
            .map_err(|error| Error::Runtime {
                reason: format!("list images: {error}"),
            })?;
        Ok(list
            .into_iter()
            .map(|image| Image {
                names: names(image.repo_digests, image.repo_tags),
                size_bytes: image.size,
            })
            .filter(|image| !image.names.is_empty())
            .collect())
    }
}

/// Digests then tags, without Docker's `<none>` placeholders.
fn names(digests: Vec<String>, tags: Vec<String>) -> Vec<String> {
    digests
        .into_iter()
        .chain(tags)
        .filter(|name| !name.starts_with("<none>"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_left_out() {
        assert_eq!(
            super::names(
                vec!["<none>@<none>".to_owned()],
                vec![
                    "kubarium.dev/busybox:test".to_owned(),
                    "<none>:<none>".to_owned()
                ]
            ),
            ["kubarium.dev/busybox:test"]
        );
    }
}
