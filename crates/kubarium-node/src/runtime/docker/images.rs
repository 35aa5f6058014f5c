//! Images: the built-in ones (the infra image every sandbox runs, and the demo web server),
//! imported from the project's static `kubarium-infra` binary the first time they are
//! needed, and everyone else's, which are on this machine or not — nothing can be pulled
//! offline, so a missing image is an error that says what to do.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

use super::spec;
use crate::runtime::{ImageReady, PullPolicy};
use crate::{Error, Result};

/// The infra image every sandbox runs: `kubarium.dev/infra:<kubarium-node version>`.
pub(crate) const INFRA_REPOSITORY: &str = "kubarium.dev/infra";
/// The demo web server's image, `kubarium.dev/demo:<tag>` (any tag; `VERSION=<tag>`).
pub(crate) const DEMO_REPOSITORY: &str = "kubarium.dev/demo";
/// Env naming the static infra binary.
pub const INFRA_BINARY_ENV: &str = "KUBARIUM_INFRA_BINARY";
/// Where the binary is inside the built-in images.
const BINARY_IN_IMAGE: &str = "kubarium-infra";
/// The applets of `kubarium-infra` (its `applets::NAMES`) linked into the demo image's `/bin`,
/// so `kubectl exec web -- cat /etc/web/greeting` works as on a real image. Changing this
/// list changes the import's comment, so demo images made earlier are imported again.
const DEMO_APPLETS: [&str; 8] = [
    "cat", "echo", "env", "hit", "hostname", "ls", "sleep", "wget",
];
/// How long a pull may take before it is given up (offline it fails sooner).
const PULL_TIMEOUT: Duration = Duration::from_secs(60);

/// The infra image's reference.
pub(crate) fn infra_image() -> String {
    format!("{INFRA_REPOSITORY}:{}", env!("CARGO_PKG_VERSION"))
}

/// An image made from the infra binary rather than pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Builtin {
    repository: &'static str,
    tag: String,
    /// `docker import` changes: its ENTRYPOINT and ENV.
    changes: Vec<String>,
    /// Names in `/bin` hard-linked to the binary.
    applets: &'static [&'static str],
}

impl Builtin {
    /// The built-in image `image` names, if it names one.
    pub(crate) fn parse(image: &str) -> Option<Self> {
        let (repository, tag) = match image.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, tag),
            _ => (image, "latest"),
        };
        let repository = repository.strip_prefix("docker.io/").unwrap_or(repository);
        let entrypoint = |mode: &str| format!(r#"ENTRYPOINT ["/{BINARY_IN_IMAGE}", "{mode}"]"#);
        if repository == INFRA_REPOSITORY && tag == env!("CARGO_PKG_VERSION") {
            return Some(Self {
                repository: INFRA_REPOSITORY,
                tag: tag.to_owned(),
                changes: vec![entrypoint("pause")],
                applets: &[],
            });
        }
        if repository == DEMO_REPOSITORY && !tag.is_empty() {
            return Some(Self {
                repository: DEMO_REPOSITORY,
                tag: tag.to_owned(),
                changes: vec![
                    entrypoint("serve"),
                    format!("ENV VERSION={tag}"),
                    "ENV PATH=/bin".to_owned(),
                ],
                applets: &DEMO_APPLETS,
            });
        }
        None
    }

    /// `repository:tag`.
    pub(crate) fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// The image's root: the binary, and `/bin/<applet>` hard links to it.
    fn tar(&self, binary: &[u8]) -> Vec<u8> {
        let mut tar = TarWriter::default();
        tar.file(BINARY_IN_IMAGE, 0o755, binary);
        for applet in self.applets {
            tar.hard_link(&format!("bin/{applet}"), BINARY_IN_IMAGE);
        }
        tar.finish()
    }

    /// The import's message, which says what the image was made from: the binary's
    /// fingerprint and the applets, so a change of either imports the image again.
    fn comment(&self, fingerprint: &str) -> String {
        if self.applets.is_empty() {
            fingerprint.to_owned()
        } else {
            format!("{fingerprint}; /bin: {}", self.applets.join(" "))
        }
    }
}

/// The static infra binary: `$KUBARIUM_INFRA_BINARY`, else `kubarium-infra` beside this
/// executable.
fn infra_binary() -> Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(BINARY_IN_IMAGE));
    let candidate = match std::env::var_os(INFRA_BINARY_ENV) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => beside.clone(),
    };
    match candidate {
        Some(path) if path.is_file() => Ok(path),
        _ => Err(Error::Runtime {
            reason: format!(
                "the static kubarium-infra binary, from which the pod infra image is made, was not found: set {INFRA_BINARY_ENV} to its path or put it beside this executable ({}); build it with `cargo xtask images`",
                beside.map_or_else(|| "unknown".to_owned(), |p| p.display().to_string())
            ),
        }),
    }
}

/// A small ustar writer: directories and regular files owned by root, long names in PAX
/// headers. Enough for Docker's `docker import` and `PUT /containers/{id}/archive`.
#[derive(Debug, Default)]
pub(crate) struct TarWriter {
    out: Vec<u8>,
    directories: std::collections::BTreeSet<String>,
    /// The link name of the hard link being written (at most 100 bytes).
    link_target: Option<String>,
}

impl TarWriter {
    /// Adds a directory entry (`path` without a trailing slash), once.
    pub(crate) fn directory(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() || !self.directories.insert(path.to_owned()) {
            return;
        }
        self.entry(&format!("{path}/"), 0o755, b'5', &[]);
    }

    /// Adds a regular file at `path` (relative, `/`-separated) with permission bits `mode`,
    /// after entries for each of its parent directories not added yet.
    pub(crate) fn file(&mut self, path: &str, mode: u32, content: &[u8]) {
        let path = path.trim_start_matches('/');
        self.parents(path);
        self.entry(path, mode, b'0', content);
    }

    /// Entries for each parent directory of `path` not added yet.
    fn parents(&mut self, path: &str) {
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.directory(&parent.clone());
        }
    }

    /// Adds a hard link at `path` to the regular file `target` added before (both relative),
    /// after entries for the link's parent directories.
    pub(crate) fn hard_link(&mut self, path: &str, target: &str) {
        let path = path.trim_start_matches('/');
        self.parents(path);
        self.link_target = Some(target.trim_start_matches('/').to_owned());
        self.entry(path, 0o755, b'1', &[]);
        self.link_target = None;
    }

    /// The archive, with its two closing zero blocks.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 1024, 0);
        self.out
    }

    fn entry(&mut self, path: &str, mode: u32, kind: u8, content: &[u8]) {
        let (prefix, name) = split_name(path).unwrap_or_else(|| {
            // Too long for ustar: a PAX header carries the whole path.
            let record = pax_record("path", path);
            self.header("././@PaxHeader", "", 0o644, b'x', record.len());
            self.body(record.as_bytes());
            ("", &path[path.len().saturating_sub(100)..])
        });
        self.header(name, prefix, mode, kind, content.len());
        self.body(content);
    }

    fn header(&mut self, name: &str, prefix: &str, mode: u32, kind: u8, size: usize) {
        let mut header = [0u8; 512];
        let mut put = |offset: usize, value: &[u8]| {
            let len = value.len().min(512 - offset);
            header[offset..offset + len].copy_from_slice(&value[..len]);
        };
        put(0, &name.as_bytes()[..name.len().min(100)]);
        put(100, format!("{:07o}\0", mode & 0o7777).as_bytes());
        put(108, b"0000000\0");
        put(116, b"0000000\0");
        put(124, format!("{size:011o}\0").as_bytes());
        put(136, b"00000000000\0");
        put(148, b"        ");
        put(156, &[kind]);
        if let Some(target) = &self.link_target {
            put(157, &target.as_bytes()[..target.len().min(100)]);
        }
        put(257, b"ustar\0");
        put(263, b"00");
        put(265, b"root");
        put(297, b"root");
        put(345, &prefix.as_bytes()[..prefix.len().min(155)]);
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.out.extend_from_slice(&header);
    }

    fn body(&mut self, content: &[u8]) {
        self.out.extend_from_slice(content);
        let padding = (512 - content.len() % 512) % 512;
        self.out.resize(self.out.len() + padding, 0);
    }
}

/// `path` as ustar's (prefix, name): the name at most 100 bytes, the prefix at most 155,
/// split at a `/`; `None` when it does not fit.
fn split_name(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .find(|(prefix, name)| prefix.len() <= 155 && name.len() <= 100 && !name.is_empty())
}

/// A PAX extended header record, `"<len> <key>=<value>\n"`, its length counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    format!("{len} {key}={value}\n")
}

/// What `docker image inspect` says of an image on this machine.
struct Found {
    id: String,
    digests: Vec<String>,
    /// The import message: for built-in images, the fingerprint of the binary.
    comment: String,
}

/// The image, or `None` when it is not on this machine.
async fn inspect(docker: &Docker, image: &str) -> Result<Option<Found>> {
    match docker.inspect_image(image).await {
        Ok(found) => Ok(Some(Found {
            id: found.id.unwrap_or_default(),
            digests: found.repo_digests.unwrap_or_default(),
            comment: found.comment.unwrap_or_default(),
        })),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(error) => Err(Error::Runtime {
            reason: format!("inspect image {image}: {error}"),
        }),
    }
}

/// The infra binary and its content, with a fingerprint of it; read once per process.
async fn binary() -> Option<&'static (PathBuf, Vec<u8>, String)> {
    static BINARY: tokio::sync::OnceCell<Option<(PathBuf, Vec<u8>, String)>> =
        tokio::sync::OnceCell::const_new();
    BINARY
        .get_or_init(|| async {
            let path = infra_binary().ok()?;
            let content = tokio::fs::read(&path).await.ok()?;
            let mut hasher = DefaultHasher::new();
            content.hash(&mut hasher);
            let fingerprint = format!(
                "kubarium-infra {} bytes, hash {:016x}",
                content.len(),
                hasher.finish()
            );
            Some((path, content, fingerprint))
        })
        .await
        .as_ref()
}

/// Imports a built-in image from the infra binary unless it is there already, made from
/// the same binary (a rebuilt binary is imported again under the same tag).
pub(crate) async fn ensure_builtin(docker: &Docker, builtin: &Builtin) -> Result<ImageReady> {
    let reference = builtin.reference();
    let present = inspect(docker, &reference).await?;
    let binary = binary().await;
    let (path, content, fingerprint) = match (present, binary) {
        (Some(found), Some((_, _, fingerprint)))
            if found.comment == builtin.comment(fingerprint) =>
        {
            return Ok(ImageReady {
                image_id: spec::image_id(&found.id, &found.digests),
                pulled: None,
            });
        }
        // Without the binary, the image made earlier serves.
        (Some(found), None) => {
            return Ok(ImageReady {
                image_id: spec::image_id(&found.id, &found.digests),
                pulled: None,
            });
        }
        (None, None) => {
            return Err(infra_binary().err().unwrap_or_else(|| Error::Runtime {
                reason: format!("the kubarium-infra binary could not be read to make {reference}"),
            }));
        }
        (_, Some(binary)) => binary,
    };
    let tar = builtin.tar(content);
    let comment = builtin.comment(fingerprint);
    let options = CreateImageOptions {
        from_src: Some("-".to_owned()),
        repo: Some(builtin.repository.to_owned()),
        tag: Some(builtin.tag.clone()),
        changes: builtin.changes.clone(),
        message: Some(comment),
        ..CreateImageOptions::default()
    };
    let mut progress = docker.create_image(
        Some(options),
        Some(bollard::body_full(bytes::Bytes::from(tar))),
        None,
    );
    while let Some(step) = progress.next().await {
        step.map_err(|error| Error::Runtime {
            reason: format!("import {reference} from {}: {error}", path.display()),
        })?;
    }
    tracing::info!(image = %reference, binary = %path.display(), "imported a built-in image");
    match inspect(docker, &reference).await? {
        Some(found) => Ok(ImageReady {
            image_id: spec::image_id(&found.id, &found.digests),
            pulled: None,
        }),
        None => Err(Error::Runtime {
            reason: format!("{reference} is missing right after it was imported"),
        }),
    }
}

/// Whether `image` is a reference Docker can parse (lower-case repository, no spaces).
fn valid_reference(image: &str) -> bool {
    let name = image.split('@').next().unwrap_or(image);
    let repository = match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => repository,
        _ => name,
    };
    !image.is_empty()
        && !image.chars().any(char::is_whitespace)
        && repository.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/' | ':')
        })
        && !repository.starts_with(['/', '-', '.'])
        && !repository.ends_with(['/', '-', '.'])
}

/// Makes `image` available as `policy` says.
pub(crate) async fn ensure(docker: &Docker, image: &str, policy: PullPolicy) -> Result<ImageReady> {
    if let Some(builtin) = Builtin::parse(image) {
        return ensure_builtin(docker, &builtin).await;
    }
    if !valid_reference(image) {
        return Err(Error::Image {
            reason: "InvalidImageName",
            message: format!(
                "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": invalid reference format"
            ),
        });
    }
    let present = inspect(docker, image).await?;
    match (&present, policy) {
        (Some(found), PullPolicy::IfNotPresent | PullPolicy::Never) => {
            return Ok(ImageReady {
                image_id: spec::image_id(&found.id, &found.digests),
                pulled: None,
            });
        }
        (None, PullPolicy::Never) => {
            return Err(Error::Image {
                reason: "ErrImageNeverPull",
                message: format!(
                    "Container image \"{image}\" is not present with pull policy of Never"
                ),
            });
        }
        _ => {}
    }
    let started = Instant::now();
    match tokio::time::timeout(PULL_TIMEOUT, pull(docker, image)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(pull_failed(image, present.is_some(), &error)),
        Err(_) => {
            let error = format!("no answer within {}s", PULL_TIMEOUT.as_secs());
            return Err(pull_failed(image, present.is_some(), &error));
        }
    }
    match docker.inspect_image(image).await {
        Ok(found) => Ok(ImageReady {
            image_id: spec::image_id(
                found.id.as_deref().unwrap_or_default(),
                found.repo_digests.as_deref().unwrap_or_default(),
            ),
            pulled: Some((
                u64::try_from(found.size.unwrap_or(0)).unwrap_or(0),
                started.elapsed(),
            )),
        }),
        Err(error) => Err(Error::Runtime {
            reason: format!("inspect image {image} after pulling it: {error}"),
        }),
    }
}

async fn pull(docker: &Docker, image: &str) -> std::result::Result<(), String> {
    let options = CreateImageOptions {
        from_image: Some(image.to_owned()),
        ..CreateImageOptions::default()
    };
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(step) = progress.next().await {
        step.map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// ErrImagePull, saying why nothing can be pulled here and what to do instead.
fn pull_failed(image: &str, present: bool, error: &str) -> Error {
    let advice = if present {
        format!(
            "\"{image}\" is on this machine, but imagePullPolicy Always asks for a pull and Kubarium cannot reach a registry: set imagePullPolicy: IfNotPresent (or Never) to run the local image"
        )
    } else {
        format!(
            "\"{image}\" is not on this machine and cannot be pulled (Kubarium runs offline): build or load it into the local Docker engine (`docker image ls` lists what is there), then use that local tag with imagePullPolicy: IfNotPresent or Never"
        )
    };
    Error::Image {
        reason: "ErrImagePull",
        message: format!("Failed to pull image \"{image}\": {error}; {advice}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_images_are_recognised() {
        let infra = Builtin::parse(&infra_image()).unwrap();
        assert_eq!(infra.reference(), infra_image());
        assert_eq!(
            infra.changes,
            [r#"ENTRYPOINT ["/kubarium-infra", "pause"]"#]
        );
        let demo = Builtin::parse("kubarium.dev/demo:v2").unwrap();
        assert_eq!(
            demo.changes,
            [
                r#"ENTRYPOINT ["/kubarium-infra", "serve"]"#,
                "ENV VERSION=v2",
                "ENV PATH=/bin"
            ]
        );
        assert_eq!(
            Builtin::parse("kubarium.dev/demo").unwrap().reference(),
            "kubarium.dev/demo:latest"
        );
        assert_eq!(Builtin::parse("kubarium.dev/infra:0.0.0-other"), None);
        assert_eq!(Builtin::parse("busybox"), None);
        assert_eq!(Builtin::parse("localhost:5000/kubarium.dev/demo"), None);
    }

    #[test]
    fn references_are_checked_as_docker_parses_them() {
        assert!(valid_reference("busybox"));
        assert!(valid_reference("kubarium.dev/busybox:test"));
        assert!(valid_reference("localhost:5000/app:1.0"));
        assert!(valid_reference("nginx@sha256:abcd"));
        assert!(!valid_reference("BusyBox"));
        assert!(!valid_reference("busy box"));
        assert!(!valid_reference(""));
    }

    #[test]
    fn the_tar_holds_one_executable() {
        let tar = Builtin::parse(&infra_image()).unwrap().tar(b"hello");
        assert_eq!(tar.len(), 512 * 4);
        assert_eq!(&tar[0..14], b"kubarium-infra");
        assert_eq!(&tar[512..517], b"hello");
        let sum: u32 = tar[..512]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                }
            })
            .sum();
        let recorded = std::str::from_utf8(&tar[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(recorded, 8).unwrap(), sum);
    }

    /// The entries of a tar, as (type, path, mode, content), read the way a plain ustar
    /// reader does (prefix + name; a PAX `path` applies to the next entry).
    fn entries(tar: &[u8]) -> Vec<(u8, String, u32, Vec<u8>)> {
        let field = |block: &[u8], at: usize, len: usize| {
            let raw = &block[at..at + len];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(len);
            String::from_utf8(raw[..end].to_vec()).unwrap()
        };
        let mut out = Vec::new();
        let mut offset = 0;
        let mut long = None;
        while offset + 512 <= tar.len() && tar[offset] != 0 {
            let block = &tar[offset..offset + 512];
            let size = usize::from_str_radix(field(block, 124, 11).trim(), 8).unwrap();
            let mode = u32::from_str_radix(field(block, 100, 7).trim(), 8).unwrap();
            let prefix = field(block, 345, 155);
            let name = field(block, 0, 100);
            let content = tar[offset + 512..offset + 512 + size].to_vec();
            offset += 512 + size.div_ceil(512) * 512;
            if block[156] == b'x' {
                let record = String::from_utf8(content).unwrap();
                let (len, rest) = record.split_once(' ').unwrap();
                assert_eq!(len.parse::<usize>().unwrap(), record.len());
                long = Some(rest.strip_prefix("path=").unwrap().trim_end().to_owned());
                continue;
            }
            let path = long.take().unwrap_or(if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            });
            out.push((block[156], path, mode, content));
        }
        assert_eq!(
            tar.len() - offset,
            1024,
            "two zero blocks close the archive"
        );
        out
    }

    #[test]
    fn the_demo_image_links_the_applets_into_bin() {
        let demo = Builtin::parse("kubarium.dev/demo:1").unwrap();
        let tar = demo.tar(b"binary");
        let found = entries(&tar);
        assert_eq!(
            found[0],
            (b'0', "kubarium-infra".to_owned(), 0o755, b"binary".to_vec())
        );
        assert_eq!(found[1], (b'5', "bin/".to_owned(), 0o755, Vec::new()));
        let links: Vec<&str> = found[2..]
            .iter()
            .map(|(kind, path, _, content)| {
                assert_eq!((*kind, content.len()), (b'1', 0), "{path} is a hard link");
                path.as_str()
            })
            .collect();
        assert_eq!(
            links,
            [
                "bin/cat",
                "bin/echo",
                "bin/env",
                "bin/hit",
                "bin/hostname",
                "bin/ls",
                "bin/sleep",
                "bin/wget"
            ]
        );
        // Every link names the binary (the header's linkname field, at 157).
        let mut offset = 512 * 3;
        for _ in &links {
            assert_eq!(&tar[offset + 157..offset + 172], b"kubarium-infra\0");
            offset += 512;
        }
    }

    #[test]
    fn the_import_comment_changes_with_the_applets() {
        let fingerprint = "kubarium-infra 3 bytes, hash 0000000000000001";
        let infra = Builtin::parse(&infra_image()).unwrap();
        assert_eq!(infra.comment(fingerprint), fingerprint);
        let demo = Builtin::parse("kubarium.dev/demo:1").unwrap();
        assert_eq!(
            demo.comment(fingerprint),
            format!("{fingerprint}; /bin: cat echo env hit hostname ls sleep wget")
        );
    }

    #[test]
    fn the_tar_writer_adds_directories_once_and_long_names() {
        let mut tar = TarWriter::default();
        tar.file("etc/kubarium/config", 0o644, b"tcp 80 -> 10.0.0.1:8080\n");
        tar.file("etc/kubarium/tls/default_web.pem", 0o600, b"pem");
        let deep = format!("etc/kubarium/tls/{}.pem", "n".repeat(120));
        tar.file(&deep, 0o600, b"x");
        let longest = format!("etc/{}", "m".repeat(300));
        tar.file(&longest, 0o644, b"");
        let tar = tar.finish();
        assert_eq!(tar.len() % 512, 0);
        let found: Vec<(u8, String, u32, usize)> = entries(&tar)
            .into_iter()
            .map(|(kind, path, mode, content)| (kind, path, mode, content.len()))
            .collect();
        assert_eq!(
            found,
            [
                (b'5', "etc/".to_owned(), 0o755, 0),
                (b'5', "etc/kubarium/".to_owned(), 0o755, 0),
                (b'0', "etc/kubarium/config".to_owned(), 0o644, 24),
                (b'5', "etc/kubarium/tls/".to_owned(), 0o755, 0),
                (
                    b'0',
                    "etc/kubarium/tls/default_web.pem".to_owned(),
                    0o600,
                    3
                ),
                (b'0', deep, 0o600, 1),
                (b'0', longest, 0o644, 0),
            ]
        );
        assert_eq!(pax_record("path", "ab").len(), 11);
        assert_eq!(pax_record("path", "ab"), "11 path=ab\n");
    }
}
