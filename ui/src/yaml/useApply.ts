// Dry runs and applies of a YAML text, shared by the details page's YAML tab and the Create
// page: the text's documents, its syntax problems, the server's verdict on it (checked by a
// dry run a moment after typing stops — the server is the schema) and the last apply.
import { useCallback, useEffect, useMemo, useState } from "react";
import { applyObjects, type ApplyOutcome } from "../ipc/apply";
import type { AppError } from "../ipc";
import { asAppError } from "../state/resources";
import { placeCauses, splitDocuments, type ParsedDocument, type Problem } from "./paths";

/** How long typing must pause before the server checks the text. */
export const CHECK_DELAY_MS = 600;

/** What the server said about one exact text. */
interface Verdict {
  readonly text: string;
  readonly outcomes: readonly ApplyOutcome[];
  /** From the background check, not a button: not reported as a result. */
  readonly background: boolean;
  readonly dryRun: boolean;
}

/** The state of a text on its way to the cluster. */
export interface ApplyState {
  readonly documents: readonly ParsedDocument[];
  /** Syntax problems, then the server's (when they are for this very text). */
  readonly problems: readonly Problem[];
  /** The outcome of the last Dry run / Apply press, while the text is unchanged since. */
  readonly result: { readonly dryRun: boolean; readonly outcomes: readonly ApplyOutcome[] } | null;
  /** A failure to ask at all (the cluster is unreachable). */
  readonly error: AppError | null;
  readonly busy: boolean;
  /** Whether every document parses, so the text can be sent. */
  readonly sendable: boolean;
  readonly dryRun: () => Promise<readonly ApplyOutcome[] | null>;
  readonly apply: () => Promise<readonly ApplyOutcome[] | null>;
}

/** Objects with `namespace` set where they name none (the server drops it for cluster-scoped kinds). */
export function withNamespace(objects: readonly Record<string, unknown>[], namespace: string): Record<string, unknown>[] {
  return objects.map((object) => {
    const metadata = object["metadata"];
    const meta = typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : {};
    if (typeof meta["namespace"] === "string" && meta["namespace"] !== "") return object;
    return { ...object, metadata: { ...meta, namespace } };
  });
}

/** A change made to the parsed objects before sending (a default namespace, a rebase). */
export interface Prepare {
  /** Names what the change does; objects are prepared again when it changes. */
  readonly key: string;
  readonly objects: (objects: Record<string, unknown>[]) => Record<string, unknown>[];
}

/** A document's name in messages: `Deployment web`, or its position. */
export function documentLabel(outcome: ApplyOutcome, index: number): string {
  const named = [outcome.kind, outcome.name].filter((s) => s !== "").join(" ");
  return named === "" ? `Document ${String(index + 1)}` : named;
}

/** The server's problems placed in their documents. Pure, for tests. */
export function outcomeProblems(
  documents: readonly ParsedDocument[],
  outcomes: readonly ApplyOutcome[],
): Problem[] {
  const multi = documents.length > 1;
  return outcomes.flatMap((outcome, i) => {
    const document = documents[i];
    const error = outcome.error;
    if (!error || !document) return [];
    const prefix = multi ? `${documentLabel(outcome, i)}: ` : "";
    const placed = placeCauses(document.doc, error.causes).map((p) => ({ ...p, message: prefix + p.message }));
    if (placed.length > 0) return placed;
    return [
      {
        from: document.start,
        to: document.start,
        message: prefix + error.message,
        field: null,
        severity: "error" as const,
        exact: true,
      },
    ];
  });
}

/**
 * Tracks `text` for `cluster`: problems as the user types (`check`: ask the server too, by a
 * dry run once typing pauses), Dry run and Apply on demand.
 */
export function useApply(cluster: string, source: string, check = true, prepare: Prepare | null = null): ApplyState {
  const documents = useMemo(() => splitDocuments(source), [source]);
  const prepareKey = prepare?.key ?? "";
  const prepareObjects = prepare?.objects;
  const objects = useMemo(() => {
    if (!documents.every((d) => d.object !== null)) return null;
    const parsed = documents.flatMap((d) => (d.object ? [d.object] : []));
    return prepareObjects ? prepareObjects(parsed) : parsed;
    // The key stands for the function: a new key means different objects.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [documents, prepareKey]);
  // Verdicts are for a text and how it was prepared.
  const text = `${source}\u0000${prepareKey}`;
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [error, setError] = useState<{ text: string; error: AppError } | null>(null);
  const [busy, setBusy] = useState(false);

  const send = useCallback(
    async (dryRun: boolean, background: boolean): Promise<readonly ApplyOutcome[] | null> => {
      if (!objects || objects.length === 0) return null;
      if (!background) setBusy(true);
      try {
        const outcomes = await applyObjects(cluster, objects, dryRun);
        // A background check never hides the result of a button pressed meanwhile.
        setVerdict((prev) =>
          background && prev?.text === text && !prev.background ? prev : { text, outcomes, background, dryRun },
        );
        setError(null);
        return outcomes;
      } catch (e: unknown) {
        setError({ text, error: asAppError(e) });
        return null;
      } finally {
        if (!background) setBusy(false);
      }
    },
    [cluster, objects, text],
  );

  useEffect(() => {
    if (!check || !objects || objects.length === 0) return undefined;
    const timer = setTimeout(() => void send(true, true), CHECK_DELAY_MS);
    return () => {
      clearTimeout(timer);
    };
  }, [check, objects, send]);

  const current = verdict?.text === text ? verdict : null;
  const problems = useMemo(
    () => [...documents.flatMap((d) => d.problems), ...(current ? outcomeProblems(documents, current.outcomes) : [])],
    [documents, current],
  );
  return {
    documents,
    problems,
    result: current && !current.background ? { dryRun: current.dryRun, outcomes: current.outcomes } : null,
    error: error?.text === text ? error.error : null,
    busy,
    sendable: objects !== null && objects.length > 0,
    dryRun: () => send(true, false),
    apply: () => send(false, false),
  };
}
