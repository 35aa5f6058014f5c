//! The zlib dictionary SPDY/3 header blocks are compressed against (SPDY/3 draft,
//! section 2.6.10.1): header names and values every client sends, each with a 32-bit
//! length, then common status lines, dates and media types as plain text.

/// The length-prefixed words at the start of the dictionary.
const WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The plain text after the words.
const TAIL: &str = concat!(
    "1001012012022052063003023033043053063074024054064074084094104114124134144154",
    "16417502504505203 Non-Authoritative Information204 No Content301 Moved Perma",
    "nently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal ",
    "Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Ju",
    "n Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTch",
    "unked,text/html,image/png,image/jpg,image/gif,application/xml,application/xh",
    "tml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcha",
    "rset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// How long the dictionary is: each word with its 4-byte length, then the tail.
const LEN: usize = {
    let mut len = TAIL.len();
    let mut i = 0;
    while i < WORDS.len() {
        len += 4 + WORDS[i].len();
        i += 1;
    }
    len
};

/// The dictionary's bytes, as both ends of a SPDY/3 connection preset them.
pub(crate) static DICTIONARY: [u8; LEN] = build();

const fn build() -> [u8; LEN] {
    let mut out = [0u8; LEN];
    let mut at = 0;
    let mut i = 0;
    while i < WORDS.len() {
        let word = WORDS[i].as_bytes();
        let len = (word.len() as u32).to_be_bytes();
        let mut j = 0;
        while j < 4 {
            out[at] = len[j];
            at += 1;
            j += 1;
        }
        at = copy(&mut out, at, word);
        i += 1;
    }
    copy(&mut out, at, TAIL.as_bytes());
    out
}

const fn copy(out: &mut [u8; LEN], mut at: usize, bytes: &[u8]) -> usize {
    let mut j = 0;
    while j < bytes.len() {
        out[at] = bytes[j];
        at += 1;
        j += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::DICTIONARY;

    /// The dictionary's Adler-32, which a SPDY/3 zlib stream names in its header (DICTID);
    /// any other value and the peer refuses every header block.
    #[test]
    fn dictionary_is_the_spdy3_one() {
        let (mut a, mut b) = (1u32, 0u32);
        for byte in DICTIONARY {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(DICTIONARY.len(), 1423);
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }
}
