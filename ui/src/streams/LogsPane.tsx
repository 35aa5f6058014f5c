// Logs of one pod, or of every pod of a workload (one stream per pod, lines prefixed with the
// pod's name in its colour): follow with auto-scroll that pauses when the reader scrolls up,
// previous instance, timestamps, wrap, search with next/previous, filter, download.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { AppError } from "../ipc";
import { stopStream } from "../ipc/resources";
import { streamLogs } from "../ipc/streams";
import { asAppError } from "../state/resources";
import {
  DEFAULT_CAP,
  LineBuffer,
  downloadText,
  filterLines,
  matchIndices,
  podColour,
  segments,
  stepMatch,
} from "./logs";
import "./streams.css";
import { ContainerPicker, useContainerChoice } from "./ContainerPicker";

interface Props {
  cluster: string;
  namespace: string;
  pods: string[];
  containers: string[];
}

/** How each pod's stream stands, shown under the toolbar when it is not simply streaming. */
type PodState = { kind: "streaming" } | { kind: "ended"; reason: string } | { kind: "error"; error: AppError };

/** Distance from the bottom (px) that still counts as "at the bottom" for auto-scroll. */
const BOTTOM_SLACK = 24;

export function LogsPane({ cluster, namespace, pods, containers }: Props): React.JSX.Element {
  const [chosen, setContainer] = useContainerChoice(containers);
  const [follow, setFollow] = useState(true);
  const [previous, setPrevious] = useState(false);
  const [timestamps, setTimestamps] = useState(false);
  const [wrap, setWrap] = useState(false);
  const [search, setSearch] = useState("");
  const [filter, setFilter] = useState("");
  const [current, setCurrent] = useState(-1);
  const [stick, setStick] = useState(true);
  const [states, setStates] = useState<Record<string, PodState>>({});
  const buffer = useRef(new LineBuffer(DEFAULT_CAP));
  // Bumped on every batch: the buffer is mutated in place (50,000 lines are not copied per batch).
  const [version, bump] = useReducer((n: number) => n + 1, 0);

  // New options start every stream afresh (the children below restart on the same key);
  // a pod joining or leaving a workload only starts or stops its own stream, keeping the
  // lines already shown.
  const streamKey = [cluster, namespace, chosen ?? "", follow, previous, timestamps].join("\n");
  useEffect(() => {
    buffer.current.clear();
    bump();
    setStates({});
  }, [streamKey]);

  const multiPod = pods.length > 1;
  // A new array per change (the buffer appends in place), so what derives from it recomputes.
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `version` marks the buffer's changes
  const all = useMemo(() => buffer.current.lines().slice(), [version]);
  const visible = useMemo(() => filterLines(all, filter), [all, filter]);
  const hits = useMemo(() => matchIndices(visible, search), [visible, search]);
  const scroller = useRef<HTMLDivElement>(null);
  // The React Compiler is not in use; the virtualizer re-renders this component itself.
  // eslint-disable-next-line react-hooks/incompatible-library -- see above
  const virtualizer = useVirtualizer({
    count: visible.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 18,
    overscan: 30,
    getItemKey: (index) => visible[index]?.seq ?? index,
  });

  // Auto-scroll to the newest line while the reader stays at the bottom.
  useEffect(() => {
    if (stick && visible.length > 0) virtualizer.scrollToIndex(visible.length - 1, { align: "end" });
  }, [stick, visible, virtualizer]);

  const onScroll = (): void => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - BOTTOM_SLACK;
    if (atBottom !== stick) setStick(atBottom);
  };

  const go = (direction: 1 | -1): void => {
    const next = stepMatch(hits, current, direction);
    setCurrent(next);
    const index = hits[next];
    if (index !== undefined) {
      setStick(false);
      virtualizer.scrollToIndex(index, { align: "center" });
    }
  };

  const download = (): void => {
    const blob = new Blob([downloadText(visible, multiPod)], { type: "text/plain" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = `${pods.length === 1 ? (pods[0] ?? "logs") : "logs"}${chosen ? `-${chosen}` : ""}.log`;
    a.click();
    setTimeout(() => { URL.revokeObjectURL(url); }, 1000);
  };

  const currentLine = hits[current];
  const problems = Object.entries(states).filter(([, s]) => s.kind !== "streaming");

  return (
    <div className="logs-pane">
      {pods.map((pod) => (
        <PodLogStream
          key={`${streamKey}\n${pod}`}
          cluster={cluster}
          namespace={namespace}
          pod={pod}
          container={chosen}
          options={{ follow, previous, timestamps }}
          buffer={buffer.current}
          changed={bump}
          setStates={setStates}
        />
      ))}
      <div className="stream-toolbar">
        <ContainerPicker containers={containers} chosen={chosen} onChoose={setContainer} />
        <label><input type="checkbox" checked={follow} onChange={(e) => { setFollow(e.target.checked); }} /> Follow</label>
        <label><input type="checkbox" checked={previous} onChange={(e) => { setPrevious(e.target.checked); }} /> Previous</label>
        <label><input type="checkbox" checked={timestamps} onChange={(e) => { setTimestamps(e.target.checked); }} /> Timestamps</label>
        <label><input type="checkbox" checked={wrap} onChange={(e) => { setWrap(e.target.checked); }} /> Wrap</label>
        <input
          type="search"
          placeholder="Search"
          aria-label="Search the log"
          data-testid="logs-search"
          value={search}
          onChange={(e) => { setSearch(e.target.value); setCurrent(-1); }}
          onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); go(e.shiftKey ? -1 : 1); } }}
        />
        <span className="stream-muted">{search === "" ? "" : hits.length === 0 ? "no match" : `${String(current < 0 ? 0 : current + 1)}/${String(hits.length)}`}</span>
        <button type="button" onClick={() => { go(-1); }} disabled={hits.length === 0} title="Previous match (Shift+Enter)">↑</button>
        <button type="button" onClick={() => { go(1); }} disabled={hits.length === 0} title="Next match (Enter)">↓</button>
        <input
          type="search"
          placeholder="Filter"
          aria-label="Show only lines containing"
          value={filter}
          onChange={(e) => { setFilter(e.target.value); setCurrent(-1); }}
        />
        <button type="button" onClick={download} disabled={visible.length === 0}>Download</button>
      </div>
      {problems.map(([pod, s]) => s.kind === "error" ? (
        <div key={pod} className="error-banner stream-error" data-testid="error-banner" role="alert">
          {multiPod ? `${pod}: ` : ""}{s.error.message}
        </div>
      ) : s.kind === "ended" ? (
        <div key={pod} className="stream-note">{multiPod ? `${pod}: ` : ""}{s.reason}</div>
      ) : null)}
      {buffer.current.dropped > 0 && (
        <div className="stream-note">
          Showing the last {DEFAULT_CAP.toLocaleString()} lines; {buffer.current.dropped.toLocaleString()} older ones were dropped. Download keeps only what is shown.
        </div>
      )}
      <div
        ref={scroller}
        className={`logs-view${wrap ? " wrap" : ""}`}
        data-testid="logs-view"
        onScroll={onScroll}
        tabIndex={0}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const line = visible[item.index];
            if (!line) return null;
            return (
              <div
                key={item.key}
                ref={virtualizer.measureElement}
                data-index={item.index}
                data-testid="logs-line"
                className={`logs-line${item.index === currentLine ? " current" : ""}`}
                style={{ transform: `translateY(${String(item.start)}px)` }}
              >
                {multiPod && (
                  <span className="logs-pod" style={{ color: podColour(pods.indexOf(line.pod)) }}>[{line.pod}] </span>
                )}
                {segments(line.text, search).map((part, i) => part.hit
                  ? <mark key={i}>{part.text}</mark>
                  : <span key={i}>{part.text}</span>)}
              </div>
            );
          })}
        </div>
        {visible.length === 0 && (
          <p className="stream-muted logs-empty">
            {all.length === 0 ? (follow ? "No lines yet; new ones appear here as the container writes them." : "The log is empty.") : "No line matches the filter."}
          </p>
        )}
      </div>
      {!stick && (
        <button type="button" className="logs-latest" onClick={() => { setStick(true); }}>
          Auto-scroll paused — jump to the newest line
        </button>
      )}
    </div>
  );
}

/** One pod's log stream, feeding the pane's buffer; renders nothing. */
function PodLogStream({ cluster, namespace, pod, container, options, buffer, changed, setStates }: {
  cluster: string;
  namespace: string;
  pod: string;
  container: string | null;
  options: { follow: boolean; previous: boolean; timestamps: boolean };
  buffer: LineBuffer;
  changed: () => void;
  setStates: React.Dispatch<React.SetStateAction<Record<string, PodState>>>;
}): null {
  const { follow, previous, timestamps } = options;
  useEffect(() => {
    let live = true;
    const id = streamLogs(cluster, namespace, pod, container, { follow, previous, timestamps, tailLines: null, sinceSeconds: null }, (batch) => {
      if (!live) return;
      switch (batch.type) {
        case "lines":
          buffer.push(pod, batch.lines);
          changed();
          break;
        case "end":
          setStates((s) => ({ ...s, [pod]: { kind: "ended", reason: batch.reason } }));
          break;
        case "error":
          setStates((s) => ({ ...s, [pod]: { kind: "error", error: batch.error } }));
          break;
      }
    }).catch((error: unknown) => {
      if (live) setStates((s) => ({ ...s, [pod]: { kind: "error", error: asAppError(error) } }));
      return null;
    });
    return () => {
      live = false;
      void id.then((id) => (id === null ? undefined : stopStream(id)));
    };
  }, [cluster, namespace, pod, container, follow, previous, timestamps, buffer, changed, setStates]);
  return null;
}
