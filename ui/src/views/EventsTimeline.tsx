// The events timeline: the cluster's Events newest first, live, filterable by type, reason,
// involved kind and text, virtualised so thousands of events scroll smoothly. Orders and filters
// come from state/events.ts.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef, useState } from "react";
import { navigate, useNamespace } from "../shell/route";
import { facets, filterEvents, formatAgo, NO_FILTER, toEntries, type EventEntry, type EventFilter, type TypeFilter } from "../state/events";
import { isClusterScoped, resourceForKind } from "../state/kindNames";
import { useNow } from "../state/clock";
import { useResources } from "../state/resources";
import { WatchTrouble } from "./WatchTrouble";
import "./chips.css";
import "./events.css";

function InvolvedObject({ entry }: { entry: EventEntry }) {
  const resource = resourceForKind(entry.kind);
  const label = `${entry.kind}/${entry.name}`;
  if (!resource || !entry.name) return <span className="event-object">{label}</span>;
  const namespace = isClusterScoped(entry.kind) ? null : entry.namespace;
  return (
    <button
      type="button"
      className="event-object link"
      title={`Open ${entry.kind} ${namespace ? `${namespace}/` : ""}${entry.name}`}
      onClick={() => {
        navigate({ view: "details", resource, namespace, name: entry.name });
      }}
    >
      {label}
    </button>
  );
}

interface ItemProps {
  entry: EventEntry;
  now: number;
  showNamespace: boolean;
  /** Narrows the list to this entry's reason. */
  onReason: (reason: string) => void;
}

function EventItem({ entry, now, showNamespace, onReason }: ItemProps) {
  const warning = entry.type === "Warning";
  return (
    <div className={warning ? "event warning" : "event"} data-type={entry.type}>
      <span className="event-time" title={entry.time === null ? "No time recorded" : new Date(entry.time).toLocaleString()}>
        {formatAgo(entry.time, now)}
      </span>
      <span className={warning ? "chip chip-warning" : "chip"}>{entry.type}</span>
      <button
        type="button"
        className="event-reason"
        title={`Show only ${entry.reason} events`}
        onClick={() => {
          onReason(entry.reason);
        }}
      >
        {entry.reason}
      </button>
      <span className="event-involved">
        {showNamespace && entry.namespace ? <span className="muted">{entry.namespace}/</span> : null}
        <InvolvedObject entry={entry} />
      </span>
      <span className="event-meta">
        {entry.count > 1 ? <span title="How many times it happened">×{entry.count}</span> : null}
        {entry.source ? <span className="muted">{entry.source}</span> : null}
      </span>
      <p className="event-message">{entry.message}</p>
    </div>
  );
}

function Filters({ filter, onChange, entries }: { filter: EventFilter; onChange: (f: EventFilter) => void; entries: readonly EventEntry[] }) {
  const choices = useMemo(() => facets(entries), [entries]);
  const types: [TypeFilter, string][] = [
    ["all", "All"],
    ["Normal", "Normal"],
    ["Warning", `Warning (${String(choices.warnings)})`],
  ];
  return (
    <div className="events-filters" role="search">
      <div className="segmented" role="group" aria-label="Event type">
        {types.map(([type, label]) => (
          <button
            key={type}
            type="button"
            aria-pressed={filter.type === type}
            className={filter.type === type ? "active" : undefined}
            onClick={() => {
              onChange({ ...filter, type });
            }}
          >
            {label}
          </button>
        ))}
      </div>
      <select
        aria-label="Reason"
        value={filter.reason ?? ""}
        onChange={(e) => {
          onChange({ ...filter, reason: e.target.value || null });
        }}
      >
        <option value="">Any reason</option>
        {choices.reasons.map((f) => (
          <option key={f.value} value={f.value}>
            {f.value} ({f.count})
          </option>
        ))}
      </select>
      <select
        aria-label="Object kind"
        value={filter.kind ?? ""}
        onChange={(e) => {
          onChange({ ...filter, kind: e.target.value || null });
        }}
      >
        <option value="">Any kind</option>
        {choices.kinds.map((f) => (
          <option key={f.value} value={f.value}>
            {f.value} ({f.count})
          </option>
        ))}
      </select>
      <input
        type="search"
        className="events-text"
        placeholder="Filter by text: message, object, source…"
        aria-label="Filter events by text"
        data-testid="events-filter"
        value={filter.text}
        onChange={(e) => {
          onChange({ ...filter, text: e.target.value });
        }}
      />
      {filter !== NO_FILTER && (
        <button
          type="button"
          onClick={() => {
            onChange(NO_FILTER);
          }}
        >
          Clear
        </button>
      )}
    </div>
  );
}

/** The cluster's events timeline. */
export function EventsTimeline(): React.JSX.Element {
  const namespace = useNamespace();
  const events = useResources("events", namespace);
  const [filter, setFilter] = useState<EventFilter>(NO_FILTER);
  const entries = useMemo(() => toEntries(events.rows), [events.rows]);
  const shown = useMemo(() => filterEvents(entries, filter), [entries, filter]);
  const now = useNow();
  const scroller = useRef<HTMLDivElement>(null);
  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualizer is read in this render only, never memoised
  const virtualizer = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 58,
    overscan: 8,
    getItemKey: (index) => shown[index]?.uid ?? index,
  });

  return (
    <div className="events-view">
      <header className="view-header events-header">
        <h1>Events</h1>
        <span className="muted">
          {shown.length === entries.length ? `${String(entries.length)} events` : `${String(shown.length)} of ${String(entries.length)} events`}
          {namespace ? ` in ${namespace}` : " in all namespaces"}
        </span>
      </header>
      <WatchTrouble watches={[["events", events]]} />
      <Filters filter={filter} onChange={setFilter} entries={entries} />
      <div className="events-scroll" ref={scroller} data-testid="events-timeline">
        {shown.length === 0 ? (
          <p className="muted events-empty">
            {events.state === "syncing"
              ? "Loading events from the cluster…"
              : entries.length === 0
                ? "No events yet. Events appear as the cluster schedules pods, pulls images and scales workloads (the API server keeps them for an hour)."
                : "No events match the filter. Clear it to see them all."}
          </p>
        ) : (
          <div className="events-list" style={{ height: virtualizer.getTotalSize() }}>
            {virtualizer.getVirtualItems().map((item) => {
              const entry = shown[item.index];
              if (!entry) return null;
              return (
                <div
                  key={item.key}
                  ref={virtualizer.measureElement}
                  data-index={item.index}
                  className="events-row"
                  style={{ transform: `translateY(${String(item.start)}px)` }}
                >
                  <EventItem
                    entry={entry}
                    now={now}
                    showNamespace={namespace === null}
                    onReason={(reason) => {
                      setFilter({ ...filter, reason });
                    }}
                  />
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
