//! `wget -qO- URL` (or `-O- URL`): one HTTP GET, the body to stdout, as a lesson uses busybox
//! wget inside a pod (`wget -qO- http://localhost:8080/name`). Redirects to `http://` are
//! followed (up to five). A status other than 2xx ends with busybox's message and exit 1;
//! without `-q` the connection and the writing are narrated on stderr, as busybox does.

use std::io::Write;

use super::{describe, refuse};
use crate::client::{self, Timeouts, Url};

const USAGE: &str = "usage: wget -qO- URL (or wget -O- URL): GET the URL and print the body; \
                     this image's wget supports nothing else (no saving to files, no other options)";
/// How many redirects are followed.
const MAX_REDIRECTS: usize = 5;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    quiet: bool,
    url: String,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut quiet = false;
    let mut to_stdout = false;
    let mut url = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-q" | "--quiet" => quiet = true,
            "--output-document=-" => to_stdout = true,
            "-O" | "--output-document" => match args.next().map(String::as_str) {
                Some("-") => to_stdout = true,
                Some(file) => return Err(format!("saving to a file ({file}) is not supported")),
                None => return Err("option -O needs an argument".to_owned()),
            },
            flags if flags.starts_with('-') && !flags.starts_with("--") && flags.len() > 1 => {
                // Grouped short options: -q, -O- and -qO- are what lessons use.
                let mut rest = &flags[1..];
                while let Some(flag) = rest.chars().next() {
                    rest = &rest[1..];
                    match flag {
                        'q' => quiet = true,
                        'O' => {
                            let file = if rest.is_empty() {
                                args.next().map(String::as_str).unwrap_or_default()
                            } else {
                                std::mem::take(&mut rest)
                            };
                            if file != "-" {
                                return Err(format!(
                                    "saving to a file ({file:?}) is not supported"
                                ));
                            }
                            to_stdout = true;
                        }
                        other => return Err(format!("option -{other} is not supported")),
                    }
                }
            }
            option if option.starts_with("--") => {
                return Err(format!("option {option} is not supported"));
            }
            _ if url.is_some() => return Err("give one URL".to_owned()),
            _ => url = Some(arg.clone()),
        }
    }
    if !to_stdout {
        return Err("only printing the body (-O-) is supported".to_owned());
    }
    let url = url.ok_or_else(|| "missing URL".to_owned())?;
    Ok(Options { quiet, url })
}

pub(super) fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let options = match options(args) {
        Ok(options) => options,
        Err(message) => return refuse(err, "wget", &format!("{message}\n{USAGE}")),
    };
    let mut url = match Url::parse(&options.url) {
        Ok(url) => url,
        Err(message) => return refuse(err, "wget", &message),
    };
    for _ in 0..=MAX_REDIRECTS {
        if !options.quiet {
            let _ = writeln!(err, "Connecting to {}:{}", url.host, url.port);
        }
        let answer = match client::get(&url, Timeouts::PATIENT) {
            Ok(answer) => answer,
            Err(error) => return refuse(err, "wget", &describe(&error)),
        };
        if (300..400).contains(&answer.status)
            && let Some(location) = &answer.location
        {
            url = match redirect(&url, location) {
                Ok(next) => next,
                Err(message) => return refuse(err, "wget", &message),
            };
            continue;
        }
        if !(200..300).contains(&answer.status) {
            return refuse(
                err,
                "wget",
                &format!("server returned error: {}", answer.status_line),
            );
        }
        if !options.quiet {
            let _ = writeln!(err, "writing to stdout");
        }
        if let Err(error) = out.write_all(&answer.body).and_then(|()| out.flush()) {
            return refuse(err, "wget", &describe(&error));
        }
        if !options.quiet {
            let _ = writeln!(err, "written to stdout");
        }
        return 0;
    }
    refuse(err, "wget", "too many redirections")
}

/// Where a `Location` leads: an absolute `http://` URL, or a path on the same server.
fn redirect(from: &Url, location: &str) -> Result<Url, String> {
    if location.starts_with('/') {
        return Ok(Url {
            path: location.to_owned(),
            ..from.clone()
        });
    }
    Url::parse(location)
}

#[cfg(test)]
mod tests {
    use super::super::tests::capture;
    use super::*;
    use crate::client::tests::serve;

    #[test]
    fn the_forms_lessons_use_parse() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let quiet = |url: &str| {
            Ok(Options {
                quiet: true,
                url: url.to_owned(),
            })
        };
        assert_eq!(options(&args(&["-qO-", "http://x/"])), quiet("http://x/"));
        assert_eq!(
            options(&args(&["-q", "-O", "-", "http://x/"])),
            quiet("http://x/")
        );
        assert_eq!(
            options(&args(&["http://x/", "-O-", "-q"])),
            quiet("http://x/")
        );
        assert_eq!(
            options(&args(&["-O-", "web"])),
            Ok(Options {
                quiet: false,
                url: "web".to_owned()
            })
        );
        assert!(options(&args(&["http://x/"])).unwrap_err().contains("-O-"));
        assert!(options(&args(&["-O", "page.html", "http://x/"])).is_err());
        assert!(options(&args(&["-qO-", "--spider", "http://x/"])).is_err());
        assert!(
            options(&args(&["-qO-"]))
                .unwrap_err()
                .contains("missing URL")
        );
    }

    #[test]
    fn the_body_goes_to_stdout() {
        let port = serve(vec!["HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nweb\n"]);
        let url = format!("http://localhost:{port}/name");
        let (code, out, err) = capture(run, &["-qO-", &url]);
        assert_eq!((code, out.as_str(), err.as_str()), (0, "web\n", ""));
    }

    #[test]
    fn a_redirect_is_followed_and_narrated_without_q() {
        let port = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /there\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]);
        let url = format!("http://127.0.0.1:{port}/here");
        let (code, out, err) = capture(run, &["-O-", &url]);
        assert_eq!((code, out.as_str()), (0, "ok"));
        assert!(err.contains("Connecting to 127.0.0.1") && err.contains("written to stdout"));
    }

    #[test]
    fn an_error_status_is_reported_like_busybox() {
        let port = serve(vec![
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
        ]);
        let url = format!("http://localhost:{port}/readyz");
        let (code, out, err) = capture(run, &["-qO-", &url]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "wget: server returned error: HTTP/1.1 503 Service Unavailable\n"
        );
    }

    #[test]
    fn unsupported_forms_say_what_is_supported() {
        let (code, _, err) = capture(run, &["http://web/"]);
        assert_eq!(code, 1);
        assert!(err.contains("usage: wget -qO- URL"), "{err}");
        let (code, _, err) = capture(run, &["-qO-", "https://web/"]);
        assert_eq!(code, 1);
        assert!(err.contains("only http://"), "{err}");
    }
}
