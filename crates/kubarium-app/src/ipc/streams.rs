//! Types of the streams: logs, exec sessions and port-forwards.
