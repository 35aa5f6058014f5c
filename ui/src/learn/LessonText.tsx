// Shows lesson text (explanations, step texts, hints) in the lesson format of text.ts.
import { blocks, type Span } from "./text";

function Spans({ spans }: { spans: readonly Span[] }) {
  return (
    <>
      {spans.map((span, i) =>
        span.type === "code" ? <code key={i}>{span.text}</code> : span.type === "bold" ? <strong key={i}>{span.text}</strong> : <span key={i}>{span.text}</span>,
      )}
    </>
  );
}

/** Paragraphs and lists of a lesson text. */
export function LessonText({ text }: { text: string }) {
  return (
    <div className="lesson-text">
      {blocks(text).map((block, i) =>
        block.type === "paragraph" ? (
          <p key={i}>
            <Spans spans={block.spans} />
          </p>
        ) : (
          <ul key={i}>
            {block.items.map((item, j) => (
              <li key={j}>
                <Spans spans={item} />
              </li>
            ))}
          </ul>
        ),
      )}
    </div>
  );
}
