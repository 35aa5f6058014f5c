// The lesson model: what a lesson file (assets/lessons/NN-<id>.yaml, format in
// assets/README.md) becomes once validated. Checks, actions and widgets are tagged unions so
// the check engine and the runner switch on them exhaustively.

/** Comparison operators of `where` clauses and counts. */
export const OPS = ["==", "!=", ">=", "<=", ">", "<", "exists", "absent", "contains", "matches"] as const;
export type Op = (typeof OPS)[number];

/** One condition on a field of an object. */
export interface Where {
  readonly path: string;
  readonly op: Op;
  /** Absent for `exists` / `absent`. */
  readonly value?: string | number | boolean;
}

/** Objects of one kind: one by name, or all matching labels. */
export interface ObjectRef {
  readonly kind: string;
  /** The lesson's namespace when absent (ignored for cluster-scoped kinds). */
  readonly namespace?: string;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A command run in a container. */
export interface ExecSpec {
  readonly pod: string;
  readonly container?: string;
  readonly command: readonly string[];
}

/** A request through the local ingress controller. */
export interface IngressSpec {
  readonly host: string;
  readonly path: string;
}

/** What a command's or request's output must look like. */
export interface OutputMatch {
  readonly contains?: string;
  readonly equals?: string;
  readonly matches?: string;
  /** At least this many different lines. */
  readonly distinctLines?: number;
}

/** A condition the learner's cluster must meet. */
export type Check =
  | { readonly type: "object"; readonly label: string; readonly ref: ObjectRef; readonly where: readonly Where[]; readonly absent: boolean }
  | { readonly type: "count"; readonly label: string; readonly ref: ObjectRef; readonly where: readonly Where[]; readonly op: Op; readonly value: number }
  | { readonly type: "changed"; readonly label: string; readonly ref: ObjectRef; readonly path: string }
  | { readonly type: "exec"; readonly label: string; readonly exec: ExecSpec; readonly output: OutputMatch }
  | { readonly type: "ingress"; readonly label: string; readonly ingress: IngressSpec; readonly output: OutputMatch };

/** One thing "Show me" does. */
export type Action =
  | { readonly type: "apply"; readonly yaml: string }
  | { readonly type: "delete"; readonly ref: ObjectRef }
  | { readonly type: "scale"; readonly ref: ObjectRef; readonly replicas: number }
  | { readonly type: "rolloutUndo"; readonly ref: ObjectRef }
  | { readonly type: "exec"; readonly exec: ExecSpec }
  | { readonly type: "nodeStop"; readonly name: string }
  | { readonly type: "nodeStart"; readonly name: string }
  | { readonly type: "nodeAdd"; readonly as?: string }
  | { readonly type: "nodeRemove"; readonly name: string }
  | { readonly type: "wait"; readonly check: Check };

/** A value remembered when a step becomes active, usable as `${name}` afterwards. */
export type Capture =
  | { readonly type: "from"; readonly name: string; readonly ref: ObjectRef; readonly path: string }
  | { readonly type: "exec"; readonly name: string; readonly exec: ExecSpec };

/** A live widget under a step's text. */
export type Widget =
  | { readonly type: "pods"; readonly labels?: Readonly<Record<string, string>>; readonly name?: string }
  | { readonly type: "rollout"; readonly deployment: string }
  | { readonly type: "secret"; readonly name: string }
  | { readonly type: "file"; readonly pod: string; readonly container?: string; readonly path: string }
  | { readonly type: "probe"; readonly label: string; readonly exec?: ExecSpec; readonly ingress?: IngressSpec; readonly browser: boolean };

/** How the learner does a step. */
export const WAYS = ["ui", "yaml", "terminal", "watch"] as const;
export type Way = (typeof WAYS)[number];

export interface Step {
  readonly id: string;
  readonly title: string;
  readonly text: string;
  readonly way: Way;
  readonly yaml?: string;
  readonly command?: string;
  readonly highlight: readonly ObjectRef[];
  readonly hint?: string;
  readonly capture: readonly Capture[];
  readonly show: readonly Widget[];
  readonly checks: readonly Check[];
  readonly showMe: readonly Action[];
}

export interface Lesson {
  readonly id: string;
  readonly title: string;
  readonly summary: string;
  readonly minutes: number;
  readonly namespace: string;
  readonly docs?: string;
  readonly explanation: string;
  readonly setup?: string;
  readonly steps: readonly Step[];
  /** The file it came from, for messages. */
  readonly file: string;
}
