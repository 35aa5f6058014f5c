//! Closing a window the way a user's window manager does: a `WM_DELETE_WINDOW` client
//! message. (WebDriver's "close window" ends the session and kills the app instead, so it
//! cannot show what a click on the close button does.)
//!
//! Xlib is reached through `x11-dl`, already in the workspace for Tauri's windowing; this
//! module is the workspace's only `unsafe` and touches only the test's own Xvfb display.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::c_long;
use std::ptr;

use x11_dl::xlib;

/// Sends `WM_DELETE_WINDOW` to every top-level window titled `title`; returns how many.
pub fn request_close(title: &str) -> usize {
    let display = Display::open();
    let windows = display.top_level(title);
    for &window in &windows {
        display.send_delete(window);
    }
    windows.len()
}

/// How many top-level windows titled `title` are mapped (shown).
pub fn visible_windows(title: &str) -> usize {
    let display = Display::open();
    display
        .top_level(title)
        .into_iter()
        .filter(|&w| display.is_viewable(w))
        .count()
}

/// A connection to `$DISPLAY`, closed on drop.
struct Display {
    xlib: xlib::Xlib,
    raw: *mut xlib::Display,
}

impl Display {
    fn open() -> Self {
        let xlib = xlib::Xlib::open().expect("libX11 is installed with the desktop prerequisites");
        // SAFETY: a null name means $DISPLAY; the result is checked before use.
        let raw = unsafe { (xlib.XOpenDisplay)(ptr::null()) };
        assert!(
            !raw.is_null(),
            "cannot open the X display named by $DISPLAY"
        );
        Self { xlib, raw }
    }

    /// Children of the root window titled `title` (without a window manager, top-level
    /// windows are the root's children).
    fn top_level(&self, title: &str) -> Vec<xlib::Window> {
        // SAFETY: every pointer passed is a live local or one Xlib returned; what Xlib
        // allocates (the child list, names) is copied out, then freed with XFree.
        unsafe {
            let root = (self.xlib.XDefaultRootWindow)(self.raw);
            let (mut root_out, mut parent, mut children, mut count) = (0, 0, ptr::null_mut(), 0);
            (self.xlib.XQueryTree)(
                self.raw,
                root,
                &mut root_out,
                &mut parent,
                &mut children,
                &mut count,
            );
            if children.is_null() {
                return Vec::new();
            }
            let all = std::slice::from_raw_parts(children, count as usize).to_vec();
            (self.xlib.XFree)(children.cast());
            all.into_iter()
                .filter(|&window| {
                    let mut name = ptr::null_mut();
                    if (self.xlib.XFetchName)(self.raw, window, &mut name) == 0 || name.is_null() {
                        return false;
                    }
                    let matches = CStr::from_ptr(name).to_string_lossy() == title;
                    (self.xlib.XFree)(name.cast());
                    matches
                })
                .collect()
        }
    }

    fn is_viewable(&self, window: xlib::Window) -> bool {
        // SAFETY: the attributes struct is plain data Xlib fills in.
        unsafe {
            let mut attributes: xlib::XWindowAttributes = std::mem::zeroed();
            (self.xlib.XGetWindowAttributes)(self.raw, window, &mut attributes) != 0
                && attributes.map_state == xlib::IsViewable
        }
    }

    fn send_delete(&self, window: xlib::Window) {
        // SAFETY: the event is a fully initialised ClientMessage on the stack.
        unsafe {
            let protocols =
                (self.xlib.XInternAtom)(self.raw, c"WM_PROTOCOLS".as_ptr(), xlib::False);
            let delete =
                (self.xlib.XInternAtom)(self.raw, c"WM_DELETE_WINDOW".as_ptr(), xlib::False);
            let mut data = xlib::ClientMessageData::new();
            data.set_long(0, delete as c_long);
            data.set_long(1, xlib::CurrentTime as c_long);
            let mut event = xlib::XEvent {
                client_message: xlib::XClientMessageEvent {
                    type_: xlib::ClientMessage,
                    serial: 0,
                    send_event: xlib::True,
                    display: self.raw,
                    window,
                    message_type: protocols,
                    format: 32,
                    data,
                },
            };
            (self.xlib.XSendEvent)(self.raw, window, xlib::False, xlib::NoEventMask, &mut event);
            (self.xlib.XFlush)(self.raw);
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        // SAFETY: `raw` came from XOpenDisplay and is closed exactly once.
        unsafe {
            (self.xlib.XCloseDisplay)(self.raw);
        }
    }
}
