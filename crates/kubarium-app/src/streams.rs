//! Streams the UI opens: pod logs, exec sessions and port-forwards.
