//! The desktop app, launched and driven through tauri-driver (WebDriver) as a user would
//! see it, on its own data dir and port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use crate::webdriver::Session;

/// The app under WebDriver; the driver, the app and its webview are killed on drop.
pub struct Desktop {
    /// The WebDriver session.
    pub session: Session,
    driver: Child,
    dir: TempDir,
    /// The API server's listen address the app was given.
    pub listen: String,
}

impl Desktop {
    /// Launches `kubarium` with a private data dir, a free port and hollow nodes.
    pub async fn launch() -> Self {
        Self::launch_with(&["--runtime", "hollow"]).await
    }

    /// Launches `kubarium` with a private data dir, a free port and `args` (e.g. the
    /// runtime; Docker scenarios pass their ingress ports too).
    pub async fn launch_with(args: &[&str]) -> Self {
        Self::launch_with_env(args, &[]).await
    }

    /// Launches as [`Desktop::launch_with`], with `env` added to the app's environment (a
    /// test's Secret Service bus, a `KUBECONFIG`). The app's config dir is always a private
    /// one ([`Desktop::config_dir`]), never the user's.
    pub async fn launch_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        assert!(
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some(),
            "the desktop tests need a display: run them through `cargo xtask test` (which uses \
             xvfb-run) or under `xvfb-run -a`"
        );
        let dir = TempDir::new().unwrap();
        let port = crate::free_port();
        let native_port = crate::free_port();
        let log = std::fs::File::create(dir.path().join("tauri-driver.log")).unwrap();
        let mut driver = Command::new(tauri_driver());
        driver
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // Its own process group, so drop can stop the driver, WebKitWebDriver and the app at once.
        std::os::unix::process::CommandExt::process_group(&mut driver, 0);
        let driver = driver.spawn().expect("tauri-driver could not start");
        // tauri-driver listens before the WebKitWebDriver it starts does; a session asked for
        // in between fails to connect, so wait for both.
        crate::wait_until("tauri-driver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        crate::wait_until("WebKitWebDriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", native_port)).ok()
        });

        let listen = format!("127.0.0.1:{}", crate::free_port());
        let data_dir = dir.path().join("data");
        let mut app_args = vec![
            "--data-dir".to_owned(),
            data_dir.display().to_string(),
            "--listen".to_owned(),
            listen.clone(),
            "--secrets-key".to_owned(),
            "file".to_owned(),
        ];
        app_args.extend(args.iter().map(|a| (*a).to_owned()));
        let capabilities = json!({
            "browserName": "wry",
            "tauri:options": {
                "application": crate::bin("kubarium"),
                "args": app_args,
            },
        });
        // Under load the driver now and then resets the connection that asks for a session,
        // before any app starts: ask again (an app that did start holds the data dir's lock,
        // so a second one could not start and the error below would say so).
        let mut attempts = 0;
        let session = loop {
            attempts += 1;
            match Session::new(&format!("http://127.0.0.1:{port}"), capabilities.clone()).await {
                Err(error) if error.error == "transport" && attempts < 3 => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => break other,
            }
        }
        .unwrap_or_else(|error| {
            // No `Desktop` to drop yet: stop the driver's group here.
            stop_group(&driver);
            panic!(
                "no WebDriver session with the app: {error}\ntauri-driver log:\n{}",
                std::fs::read_to_string(dir.path().join("tauri-driver.log")).unwrap_or_default()
            )
        });
        Self {
            session,
            driver,
            dir,
            listen,
        }
    }

    /// The app's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Where the app keeps its settings and its list of remote clusters (`XDG_CONFIG_HOME`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// The app's process id, from its data dir lock.
    pub fn app_pid(&self) -> u32 {
        let lock = std::fs::read_to_string(self.data_dir().join("kubarium.lock")).unwrap();
        lock.trim().parse().unwrap()
    }

    /// The text of the element with `data-testid` = `id`, once it exists.
    pub async fn text(&self, id: &str) -> String {
        let selector = format!("[data-testid=\"{id}\"]");
        let element = self
            .session
            .find(&selector, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"));
        element.text().await.unwrap()
    }

    /// Waits until the text of `data-testid` = `id` satisfies `ready`; returns it.
    pub async fn wait_for_text(
        &self,
        id: &str,
        timeout: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text(id).await;
            if ready(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{id}` still reads {text:?} after {timeout:?}; app log:\n{}",
                crate::logs(&self.data_dir(), "kubarium")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The element with `data-testid` = `id`, waiting up to 30 s for it.
    pub async fn element(&self, id: &str) -> crate::webdriver::Element<'_> {
        let selector = format!("[data-testid=\"{id}\"]");
        self.session
            .find(&selector, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no element {selector}: {e}; app log:\n{}",
                    crate::logs(&self.data_dir(), "kubarium")
                )
            })
    }

    /// Scrolls the first element matching `selector` to the middle of its scroll area: at
    /// the edge, the status bar may cover it and WebKit then refuses the click.
    async fn scroll_to_middle(&self, selector: &str) {
        // A failure leaves the element where it was; the click then says what is wrong.
        let _ = self
            .session
            .execute(
                "document.querySelector(arguments[0])?.scrollIntoView({block: 'center'});",
                vec![json!(selector)],
            )
            .await;
    }

    /// Clicks the element with `data-testid` = `id`.
    pub async fn click(&self, id: &str) {
        let element = self.element(id).await;
        self.scroll_to_middle(&format!("[data-testid=\"{id}\"]"))
            .await;
        if let Err(e) = element.click().await {
            let shot = self.screenshot(&format!("failed-click-{id}")).await;
            panic!("cannot click {id}: {e} (the window: {})", shot.display());
        }
    }

    /// Clicks the first element matching the CSS `selector`, waiting up to 30 s for it.
    pub async fn click_css(&self, selector: &str) {
        let element = self
            .session
            .find(selector, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"));
        self.scroll_to_middle(selector).await;
        if let Err(e) = element.click().await {
            let shot = self.screenshot("failed-click").await;
            panic!(
                "cannot click {selector}: {e} (the window: {})",
                shot.display()
            );
        }
    }

    /// Sets the input with `data-testid` = `id` to `text` as typing does (React sees an
    /// `input` event; a WebDriver clear does not reach its state).
    pub async fn set_input(&self, id: &str, text: &str) {
        self.element(id).await;
        self.session
            .execute(
                r#"
                const [id, text] = arguments;
                const input = document.querySelector(`[data-testid="${id}"]`);
                const proto = input instanceof HTMLTextAreaElement
                  ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
                Object.getOwnPropertyDescriptor(proto, 'value').set.call(input, text);
                input.dispatchEvent(new Event('input', { bubbles: true }));
                input.focus();"#,
                vec![json!(id), json!(text)],
            )
            .await
            .unwrap_or_else(|e| panic!("cannot set {id}: {e}"));
    }

    /// How many elements match the CSS `selector` now.
    pub async fn count(&self, selector: &str) -> usize {
        self.session.find_all(selector).await.unwrap().len()
    }

    /// Waits up to 90 s until exactly `want` elements match the CSS `selector`.
    pub async fn wait_count(&self, what: &str, selector: &str, want: usize) {
        self.wait_for(what, Duration::from_secs(90), async |session| {
            let n = session.find_all(selector).await.ok()?.len();
            (n == want).then_some(())
        })
        .await;
    }

    /// Waits until `check` (given the session) returns `Some`, polling every 200 ms.
    pub async fn wait_for<T, F>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: AsyncFnMut(&Session) -> Option<T>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = check(&self.session).await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen after {timeout:?}; app log:\n{}",
                crate::logs(&self.data_dir(), "kubarium")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Opens the dialog that adds clusters: the cluster switcher, then "Add".
    pub async fn open_cluster_dialog(&self) {
        self.click("cluster-switcher").await;
        self.click("cluster-add").await;
        self.element("cluster-dialog").await;
    }

    /// In the open cluster dialog, reads the default kubeconfig (`KUBECONFIG`, else
    /// `~/.kube/config`) and waits for its contexts to be offered for import.
    pub async fn read_default_kubeconfig(&self) {
        self.click("kubeconfig-default").await;
        self.element("kubeconfig-import").await;
    }

    /// Imports the contexts the dialog offers and waits for it to close.
    pub async fn import_kubeconfig(&self) {
        self.click("kubeconfig-import").await;
        self.wait_count(
            "the cluster dialog to close",
            "[data-testid='cluster-dialog']",
            0,
        )
        .await;
    }

    /// Switches the window to the first imported (not local) cluster and opens its map.
    pub async fn switch_to_remote(&self) {
        let remote = "[data-testid^='cluster-option-']:not([data-testid='cluster-option-local'])";
        // The switcher's list may have closed with the dialog.
        if self.count(remote).await == 0 {
            self.click("cluster-switcher").await;
        }
        self.click_css(remote).await;
        self.click("nav-map").await;
    }

    /// Saves a screenshot of the window as `<name>.png` in the run's screenshot folder.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.session.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        stop_group(&self.driver);
        let _ = self.driver.wait();
    }
}

/// Kills tauri-driver's process group: the driver, WebKitWebDriver and the app.
fn stop_group(driver: &Child) {
    let group = format!("-{}", driver.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
}

fn tauri_driver() -> PathBuf {
    if let Some(path) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let installed = home.join(".cargo/bin/tauri-driver");
    assert!(
        installed.is_file(),
        "tauri-driver is not installed: `cargo install tauri-driver --locked` (cargo xtask test does this)"
    );
    installed
}

/// `KUBARIUM_SCREENSHOTS`, or `target/screenshots`.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("KUBARIUM_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            // target/debug/deps/<test> → target/screenshots
            exe.ancestors()
                .nth(3)
                .unwrap_or(Path::new("."))
                .join("screenshots")
        })
}
