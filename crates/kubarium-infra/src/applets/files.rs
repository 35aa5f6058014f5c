//! `cat` and `ls`: what a lesson needs to look at a mounted ConfigMap, Secret or volume.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use super::{describe, refuse};

const CAT_USAGE: &str = "usage: cat [FILE]... (this image's cat takes no options)";
const LS_USAGE: &str = "usage: ls [-1alA] [PATH]... (this image's ls knows no other options)";

/// `cat [FILE]...`: each file (`-` or none: stdin) to `out`; a file that cannot be read is
/// reported and the rest still printed, with exit code 1.
pub(super) fn cat(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    if let Some(option) = args.iter().find(|a| a.starts_with('-') && a.len() > 1) {
        return refuse(
            err,
            "cat",
            &format!("unrecognized option '{option}'\n{CAT_USAGE}"),
        );
    }
    let stdin = ["-".to_owned()];
    let files = if args.is_empty() { &stdin[..] } else { args };
    let mut code = 0;
    for file in files {
        let copied = if file == "-" {
            io::copy(&mut io::stdin().lock(), out)
        } else {
            match fs::File::open(file) {
                Ok(mut opened) => io::copy(&mut opened, out),
                Err(error) => {
                    code = refuse(
                        err,
                        "cat",
                        &format!("can't open '{file}': {}", describe(&error)),
                    );
                    continue;
                }
            }
        };
        if let Err(error) = copied {
            if error.kind() == io::ErrorKind::BrokenPipe {
                return code;
            }
            code = refuse(err, "cat", &format!("read error: {}", describe(&error)));
        }
    }
    code
}

/// `ls`'s options.
#[derive(Debug, Default, Clone, Copy)]
struct Listing {
    long: bool,
    /// `-a`: dot files, `.` and `..`.
    all: bool,
    /// `-A`: dot files without `.` and `..`.
    almost_all: bool,
}

/// `ls [-1alA] [PATH]...`.
pub(super) fn ls(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut listing = Listing::default();
    let mut paths = Vec::new();
    for arg in args {
        match arg.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                for flag in flags.chars() {
                    match flag {
                        'l' => listing.long = true,
                        'a' => listing.all = true,
                        'A' => listing.almost_all = true,
                        '1' => {}
                        _ => {
                            return refuse(
                                err,
                                "ls",
                                &format!("unrecognized option '-{flag}'\n{LS_USAGE}"),
                            );
                        }
                    }
                }
            }
            _ => paths.push(arg.as_str()),
        }
    }
    if paths.is_empty() {
        paths.push(".");
    }
    let mut code = 0;
    let mut files = Vec::new();
    let mut directories = Vec::new();
    for path in &paths {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => directories.push(*path),
            Ok(_) => files.push(*path),
            Err(error) => code = refuse(err, "ls", &format!("{path}: {}", describe(&error))),
        }
    }
    files.sort_unstable();
    directories.sort_unstable();
    for file in &files {
        let _ = line(out, Path::new(file), file, listing.long);
    }
    let headers = files.len() + directories.len() > 1;
    for (i, directory) in directories.iter().enumerate() {
        if headers {
            let blank = if i > 0 || !files.is_empty() { "\n" } else { "" };
            let _ = writeln!(out, "{blank}{directory}:");
        }
        match entries(directory, listing) {
            Ok(names) => {
                for name in names {
                    let _ = line(out, &Path::new(directory).join(&name), &name, listing.long);
                }
            }
            Err(error) => {
                code = refuse(
                    err,
                    "ls",
                    &format!("can't open '{directory}': {}", describe(&error)),
                );
            }
        }
    }
    code
}

/// A directory's names, sorted, dot files as the options say.
fn entries(directory: &str, listing: Listing) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(directory)?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| listing.all || listing.almost_all || !name.starts_with('.'))
        .collect();
    if listing.all {
        names.extend([".".to_owned(), "..".to_owned()]);
    }
    names.sort_unstable();
    Ok(names)
}

/// One entry: its name, or with `-l` its type and permissions, size, name and link target.
fn line(out: &mut dyn Write, path: &Path, name: &str, long: bool) -> io::Result<()> {
    if !long {
        return writeln!(out, "{name}");
    }
    let Ok(meta) = fs::symlink_metadata(path) else {
        return writeln!(out, "?????????? {:>8} {name}", "?");
    };
    let target = if meta.file_type().is_symlink() {
        fs::read_link(path)
            .map(|t| format!(" -> {}", t.display()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} {:>8} {name}{target}",
        mode_string(&meta),
        meta.len()
    )
}

/// `drwxr-xr-x`-style type and permissions.
fn mode_string(meta: &fs::Metadata) -> String {
    let kind = meta.file_type();
    let first = if kind.is_dir() {
        'd'
    } else if kind.is_symlink() {
        'l'
    } else if kind.is_char_device() {
        'c'
    } else if kind.is_block_device() {
        'b'
    } else if kind.is_fifo() {
        'p'
    } else if kind.is_socket() {
        's'
    } else {
        '-'
    };
    let mode = meta.permissions().mode();
    let mut text = String::from(first);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::tests::capture;
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("greeting"), "hello\n").unwrap();
        fs::write(dir.path().join(".hidden"), "x").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("greeting", dir.path().join("link")).unwrap();
        dir
    }

    #[test]
    fn cat_prints_files_in_order_and_reports_missing_ones() {
        let dir = tree();
        let greeting = dir.path().join("greeting");
        let greeting = greeting.to_str().unwrap();
        let (code, out, err) = capture(cat, &[greeting, greeting]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, "hello\nhello\n", "")
        );
        let (code, out, err) = capture(cat, &["/nonexistent/x", greeting]);
        assert_eq!(code, 1);
        assert_eq!(out, "hello\n");
        assert_eq!(
            err,
            "cat: can't open '/nonexistent/x': No such file or directory\n"
        );
        let (code, _, err) = capture(cat, &["-n", greeting]);
        assert_eq!(code, 1);
        assert!(
            err.contains("unrecognized option '-n'") && err.contains("usage: cat"),
            "{err}"
        );
    }

    #[test]
    fn ls_lists_names_sorted_without_dot_files() {
        let dir = tree();
        let path = dir.path().to_str().unwrap();
        let (code, out, _) = capture(ls, &[path]);
        assert_eq!((code, out.as_str()), (0, "greeting\nlink\nsub\n"));
        let (_, out, _) = capture(ls, &["-A", path]);
        assert_eq!(out, ".hidden\ngreeting\nlink\nsub\n");
        let (_, out, _) = capture(ls, &["-a1", path]);
        assert_eq!(out, ".\n..\n.hidden\ngreeting\nlink\nsub\n");
    }

    #[test]
    fn ls_long_shows_type_permissions_size_and_link_target() {
        let dir = tree();
        let path = dir.path().to_str().unwrap();
        fs::set_permissions(
            dir.path().join("greeting"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let (code, out, _) = capture(ls, &["-l", path]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "-rw-r--r--        6 greeting");
        assert!(lines[1].starts_with("lrwxrwxrwx") && lines[1].ends_with("link -> greeting"));
        assert!(
            lines[2].starts_with('d') && lines[2].ends_with(" sub"),
            "{out}"
        );
    }

    #[test]
    fn ls_of_several_paths_heads_each_directory_and_reports_missing_ones() {
        let dir = tree();
        let greeting = dir.path().join("greeting");
        let sub = dir.path().join("sub");
        let (greeting, sub) = (greeting.to_str().unwrap(), sub.to_str().unwrap());
        let (code, out, err) = capture(ls, &[sub, greeting, "/nonexistent/y"]);
        assert_eq!(code, 1);
        assert_eq!(out, format!("{greeting}\n\n{sub}:\n"));
        assert_eq!(err, "ls: /nonexistent/y: No such file or directory\n");
        let (code, _, err) = capture(ls, &["-R"]);
        assert_eq!(code, 1);
        assert!(err.contains("usage: ls"), "{err}");
    }
}
