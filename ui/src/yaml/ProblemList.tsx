// The problems of a YAML text as a list under the editor: where (line, field) and what.
import type { Problem } from "./paths";

/** The 1-based line of `offset` in `text`. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < Math.min(offset, text.length); i += 1) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

/** Every problem, placed or not, each with `data-testid="yaml-error"` and its field. */
export function ProblemList({ problems, text, onSelect }: { problems: readonly Problem[]; text: string; onSelect?: (problem: Problem) => void }) {
  if (problems.length === 0) return null;
  return (
    <ul className="yaml-problems" aria-label="Problems">
      {problems.map((problem, i) => (
        <li
          key={`${String(i)}-${problem.message}`}
          className={`yaml-problem ${problem.severity}`}
          data-testid="yaml-error"
          data-field={problem.field ?? ""}
        >
          <button
            type="button"
            className="yaml-problem-where link-button"
            title="Show it in the editor"
            onClick={() => {
              onSelect?.(problem);
            }}
          >
            line {lineOf(text, problem.from)}
            {problem.field !== null && !problem.exact ? " (field missing)" : ""}
          </button>
          <span className="yaml-problem-message">{problem.message}</span>
        </li>
      ))}
    </ul>
  );
}
