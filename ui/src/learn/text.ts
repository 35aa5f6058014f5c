// The lessons' small text format: paragraphs split by blank lines, lines starting "- " as list
// items, `code` and **bold** inline. No HTML: everything else is shown as written.

export type Span = { readonly type: "text" | "code" | "bold"; readonly text: string };

export type Block = { readonly type: "paragraph"; readonly spans: Span[] } | { readonly type: "list"; readonly items: Span[][] };

/** Splits a line into plain, `code` and **bold** runs; an unclosed marker is plain text. */
export function spans(line: string): Span[] {
  const out: Span[] = [];
  let rest = line;
  while (rest !== "") {
    const match = /`([^`]+)`|\*\*([^*]+)\*\*/.exec(rest);
    if (!match) {
      out.push({ type: "text", text: rest });
      break;
    }
    if (match.index > 0) out.push({ type: "text", text: rest.slice(0, match.index) });
    if (match[1] !== undefined) out.push({ type: "code", text: match[1] });
    else out.push({ type: "bold", text: match[2] ?? "" });
    rest = rest.slice(match.index + match[0].length);
  }
  return out;
}

/** The blocks of a text: consecutive "- " lines form one list; other lines join into paragraphs. */
export function blocks(text: string): Block[] {
  const out: Block[] = [];
  for (const chunk of text.split(/\n\s*\n/)) {
    let paragraph: string[] = [];
    let items: string[] = [];
    const flush = (): void => {
      if (paragraph.length > 0) out.push({ type: "paragraph", spans: spans(paragraph.join(" ")) });
      if (items.length > 0) out.push({ type: "list", items: items.map(spans) });
      paragraph = [];
      items = [];
    };
    for (const raw of chunk.split("\n")) {
      const line = raw.trim();
      if (line === "") continue;
      if (line.startsWith("- ")) {
        if (paragraph.length > 0) flush();
        items.push(line.slice(2));
      } else if (items.length > 0 && raw.startsWith("  ")) {
        // An indented line continues the list item above it.
        items[items.length - 1] = `${items[items.length - 1] ?? ""} ${line}`;
      } else {
        if (items.length > 0) flush();
        paragraph.push(line);
      }
    }
    flush();
  }
  return out;
}
