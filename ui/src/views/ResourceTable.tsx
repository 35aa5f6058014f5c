// The `kubectl get` view of one kind: live rows, kubectl's columns and ages, sorting, a text
// filter and a label selector, virtualised so 10,000 rows scroll smoothly, driven from the
// keyboard. The logic lives in state/table.ts; this file wires it to React.
import { memo, useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ActionsMenu } from "../actions/ActionsMenu";
import { type KindInfo, type Row, type WatchState } from "../ipc/resources";
import { ErrorBanner } from "../shell/ErrorBanner";
import { isActivatable, isPlainKey, isTypingTarget } from "../shell/keys";
import { back, navigate, useNamespace } from "../shell/route";
import { modalOpen, setSelection } from "../shell/selection";
import { useNow } from "../state/clock";
import { kindOf, pluralLabel, reloadKinds, useKinds } from "../state/kinds";
import { useResources } from "../state/resources";
import { useCurrentCluster } from "../state/clusters";
import {
  cellText,
  filterRows,
  nextSort,
  parseSelector,
  sortRows,
  statusTone,
  tableColumns,
  type SortSpec,
  type TableColumn,
} from "../state/table";
import "./table.css";

/** Fixed row height: the virtualiser positions rows without measuring them. */
const ROW_HEIGHT = 32;

/** Lists every object of `resource` in the selected namespace (or all of them). */
export function ResourceTable({ resource }: { resource: string }) {
  const kinds = useKinds();
  if (kinds.state === "loading") return <p className="muted">Loading the kinds this cluster serves…</p>;
  if (kinds.state === "failed") {
    return (
      <>
        <ErrorBanner error={kinds.error} title="Could not load the list of kinds" />
        <button type="button" onClick={reloadKinds}>
          Try again
        </button>
      </>
    );
  }
  const kind = kindOf(kinds.kinds, resource);
  if (!kind) {
    return (
      <ErrorBanner
        error={{
          code: "notFound",
          message: `Kubarium does not know the resource "${resource}". Pick a kind in the sidebar.`,
          causes: [],
        }}
      />
    );
  }
  return <KindTable key={resource} kind={kind} />;
}

function columnWidth(column: TableColumn): { track: string; min: number } {
  if (column.id === "NAME") return { track: "minmax(220px, 3fr)", min: 220 };
  if (column.id === "NAMESPACE") return { track: "minmax(120px, 1.2fr)", min: 120 };
  if (column.columnType === "age") return { track: "72px", min: 72 };
  if (column.columnType === "integer") return { track: "minmax(100px, 0.6fr)", min: 100 };
  // Wide enough for the header (about 8px a letter at 12px bold, plus padding and the arrow).
  const min = Math.max(96, column.header.length * 8 + 32);
  return { track: `minmax(${String(min)}px, 1fr)`, min };
}

/** Room for the actions menu's button ("Actions ▾"). */
const ACTIONS_WIDTH = 104;

function KindTable({ kind }: { kind: KindInfo }) {
  const namespace = useNamespace();
  const watchNamespace = kind.namespaced ? namespace : null;
  const snapshot = useResources(kind.resource, watchNamespace);
  const rows = useDeferredValue(snapshot.rows);
  const [query, setQuery] = useState("");
  const [selectorText, setSelectorText] = useState("");
  const [wide, setWide] = useState(false);
  const [sort, setSort] = useState<SortSpec>({ column: "", direction: "asc" });
  const [selectedUid, setSelectedUid] = useState<string | null>(null);
  const now = useNow(1000);
  const filterRef = useRef<HTMLInputElement>(null);
  const bodyRef = useRef<HTMLDivElement>(null);

  const allNamespaces = kind.namespaced && watchNamespace === null;
  const columns = useMemo(() => tableColumns(kind, allNamespaces, wide), [kind, allNamespaces, wide]);
  const parsedSelector = useMemo(() => parseSelector(selectorText), [selectorText]);
  const selector = parsedSelector.ok ? parsedSelector.selector : null;
  // Sorted when rows or the sort change, filtered (order kept) on every keystroke: typing
  // never pays for a sort.
  const sorted = useMemo(() => sortRows(rows, columns, sort), [rows, columns, sort]);
  const visible = useMemo(
    () => filterRows(sorted, query, selector ?? [], kind.columns),
    [sorted, query, selector, kind.columns],
  );
  const selectedIndex = selectedUid === null ? -1 : visible.findIndex((r) => r.uid === selectedUid);
  const selectedRow = visible[selectedIndex] ?? null;
  const hasWide = kind.columns.some((c) => c.priority > 0);

  const grid = useMemo(() => {
    const widths = columns.map(columnWidth);
    return {
      template: [...widths.map((w) => w.track), `${String(ACTIONS_WIDTH)}px`].join(" "),
      minWidth: widths.reduce((sum, w) => sum + w.min, ACTIONS_WIDTH),
    };
  }, [columns]);

  // eslint-disable-next-line react-hooks/incompatible-library -- the virtualiser's returned functions are not memoisable; this component re-renders with it by design
  const virtualizer = useVirtualizer({
    count: visible.length,
    getScrollElement: () => bodyRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    // The sticky header sits above the rows inside the scrolling element.
    paddingStart: ROW_HEIGHT,
    scrollPaddingStart: ROW_HEIGHT,
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0];
  const last = items[items.length - 1];
  // Rows stay in normal flow between two spacers: absolutely positioned rows each become a
  // layer, and WebKitGTK then repaints the whole scroller on every frame (~0.5 s under Xvfb).
  const spaceBefore = first ? first.start - ROW_HEIGHT : 0;
  const spaceAfter = last ? virtualizer.getTotalSize() - last.end : 0;

  useEffect(() => {
    setSelection(selectedRow ? { resource: kind.resource, row: selectedRow } : null);
  }, [kind.resource, selectedRow]);
  useEffect(() => () => {
    setSelection(null);
  }, []);

  const open = useCallback(
    (row: Row) => {
      navigate({ view: "details", resource: kind.resource, namespace: row.namespace, name: row.name });
    },
    [kind.resource],
  );

  const move = useCallback(
    (delta: number) => {
      if (visible.length === 0) return;
      const from = selectedIndex < 0 ? (delta > 0 ? -1 : visible.length) : selectedIndex;
      const to = Math.min(visible.length - 1, Math.max(0, from + delta));
      const row = visible[to];
      if (!row) return;
      setSelectedUid(row.uid);
      virtualizer.scrollToIndex(to, { align: "auto" });
    },
    [visible, selectedIndex, virtualizer],
  );

  // List keys, window-wide so they work wherever focus is, but never while typing.
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (event.defaultPrevented || modalOpen() || isTypingTarget(event.target)) return;
      if (!isPlainKey(event)) return;
      switch (event.key) {
        case "/":
          event.preventDefault();
          filterRef.current?.focus();
          filterRef.current?.select();
          return;
        case "j":
        case "ArrowDown":
          event.preventDefault();
          move(1);
          return;
        case "k":
        case "ArrowUp":
          event.preventDefault();
          move(-1);
          return;
        case "PageDown":
        case "PageUp": {
          event.preventDefault();
          const page = Math.max(1, Math.floor((bodyRef.current?.clientHeight ?? ROW_HEIGHT * 10) / ROW_HEIGHT) - 1);
          move(event.key === "PageDown" ? page : -page);
          return;
        }
        case "Enter":
          if (isActivatable(event.target) || !selectedRow) return;
          event.preventDefault();
          open(selectedRow);
          return;
        case "w":
          if (hasWide) setWide((w) => !w);
          return;
        case "Escape":
          if (query !== "" || selectorText !== "") {
            setQuery("");
            setSelectorText("");
          } else {
            back();
          }
          return;
      }
    }
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
    };
  }, [move, open, selectedRow, query, selectorText, hasWide]);

  function onFilterKey(event: React.KeyboardEvent<HTMLInputElement>) {
    if (event.key === "Escape") {
      event.preventDefault();
      if (event.currentTarget.value !== "") {
        if (event.currentTarget === filterRef.current) setQuery("");
        else setSelectorText("");
      } else {
        event.currentTarget.blur();
      }
    } else if (event.key === "ArrowDown" || event.key === "Enter") {
      event.preventDefault();
      event.currentTarget.blur();
      bodyRef.current?.focus();
      if (selectedIndex < 0) move(1);
    }
  }

  const label = pluralLabel(kind);
  const where = !kind.namespaced ? "" : watchNamespace === null ? " in any namespace" : ` in namespace ${watchNamespace}`;

  return (
    <div className="rt">
      <header className="rt-toolbar">
        <h1>{label}</h1>
        <span className="muted rt-count" data-testid="table-count" data-count={visible.length}>
          {visible.length === snapshot.rows.length
            ? String(snapshot.rows.length)
            : `${String(visible.length)} of ${String(snapshot.rows.length)}`}
        </span>
        {snapshot.state === "syncing" && (
          <span className="rt-syncing" role="status">
            <span className="rt-spinner" aria-hidden="true" /> Syncing…
          </span>
        )}
        <span className="spacer" />
        <input
          ref={filterRef}
          className="rt-filter"
          type="search"
          placeholder="Filter (press /)"
          aria-label={`Filter ${label} by name, namespace or any column`}
          data-testid="table-filter"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
          }}
          onKeyDown={onFilterKey}
        />
        <input
          className={parsedSelector.ok ? "rt-selector" : "rt-selector invalid"}
          type="search"
          placeholder="Labels: app=web,tier!=db"
          aria-label="Label selector, as kubectl -l takes it"
          aria-invalid={!parsedSelector.ok}
          data-testid="table-selector"
          value={selectorText}
          onChange={(e) => {
            setSelectorText(e.target.value);
          }}
          onKeyDown={onFilterKey}
        />
        {hasWide && (
          <label className="rt-wide" title="Show the columns kubectl shows with -o wide (w)">
            <input
              type="checkbox"
              checked={wide}
              data-testid="table-wide"
              onChange={(e) => {
                setWide(e.target.checked);
              }}
            />
            Wide
          </label>
        )}
      </header>

      {!parsedSelector.ok && (
        <p className="rt-selector-error" role="alert" data-testid="table-selector-error">
          {parsedSelector.error}
        </p>
      )}
      {snapshot.state === "reconnecting" && (
        <ErrorBanner
          tone="warning"
          title="Reconnecting"
          error={snapshot.error ?? `The watch on ${kind.resource} dropped; Kubarium is reconnecting.`}
        />
      )}

      <div className="rt-scroll" ref={bodyRef} tabIndex={-1}>
        <div
          className="rt-grid"
          role="grid"
          aria-label={label}
          aria-rowcount={visible.length + 1}
          style={{ minWidth: grid.minWidth }}
        >
          <div className="rt-head" role="row" style={{ gridTemplateColumns: grid.template }}>
            {columns.map((column) => (
              <HeaderCell
                key={column.id}
                column={column}
                sort={sort}
                onSort={() => {
                  setSort((s) => nextSort(s, column.id));
                }}
              />
            ))}
            <span role="columnheader" className="rt-th">
              <span className="visually-hidden">Actions</span>
            </span>
          </div>
          <div className="rt-body" style={{ paddingTop: spaceBefore, paddingBottom: spaceAfter }}>
            {items.map((item) => {
              const row = visible[item.index];
              if (!row) return null;
              return (
                <TableRow
                  key={row.uid}
                  row={row}
                  index={item.index}
                  template={grid.template}
                  columns={columns}
                  resource={kind.resource}
                  now={now}
                  selected={row.uid === selectedUid}
                  onSelect={setSelectedUid}
                  onOpen={open}
                />
              );
            })}
          </div>
        </div>
        {visible.length === 0 && (
          <EmptyState
            state={snapshot.state}
            filtered={snapshot.rows.length > 0}
            what={`${label}${where}`}
          />
        )}
      </div>
    </div>
  );
}

function HeaderCell({ column, sort, onSort }: { column: TableColumn; sort: SortSpec; onSort: () => void }) {
  const active = sort.column === column.id;
  const ariaSort = active ? (sort.direction === "asc" ? "ascending" : "descending") : "none";
  return (
    <span role="columnheader" className="rt-th" aria-sort={ariaSort}>
      <button
        type="button"
        className={active ? "rt-sort active" : "rt-sort"}
        onClick={onSort}
        title={`Sort by ${column.header}`}
        data-testid={`table-header-${column.id}`}
      >
        {column.header}
        <span aria-hidden="true" className="rt-arrow">
          {active ? (sort.direction === "asc" ? "▲" : "▼") : ""}
        </span>
      </button>
    </span>
  );
}

interface RowProps {
  row: Row;
  index: number;
  template: string;
  columns: readonly TableColumn[];
  resource: string;
  now: number;
  selected: boolean;
  onSelect: (uid: string) => void;
  onOpen: (row: Row) => void;
}

const TableRow = memo(function TableRow({
  row,
  index,
  template,
  columns,
  resource,
  now,
  selected,
  onSelect,
  onOpen,
}: RowProps) {
  const cluster = useCurrentCluster();
  const classes = ["rt-row"];
  if (selected) classes.push("selected");
  if (row.deleting) classes.push("deleting");
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      aria-selected={selected}
      className={classes.join(" ")}
      data-testid={`table-row-${row.name}`}
      style={{ gridTemplateColumns: template, height: ROW_HEIGHT }}
      onClick={() => {
        onSelect(row.uid);
      }}
      onDoubleClick={() => {
        onOpen(row);
      }}
    >
      {columns.map((column) => {
        if (column.id === "NAME") {
          return (
            <span key={column.id} role="gridcell" className="rt-td rt-name" data-testid="table-cell-NAME">
              <button
                type="button"
                className="rt-link"
                title={`Open ${row.name}`}
                onClick={(e) => {
                  e.stopPropagation();
                  onOpen(row);
                }}
              >
                {row.name}
              </button>
            </span>
          );
        }
        const text =
          column.cell === null
            ? (row.namespace ?? "")
            : cellText(row.cells[column.cell] ?? null, column.columnType, now, column.header);
        const tone = column.id === "STATUS" ? statusTone(text) : null;
        return (
          <span
            key={column.id}
            role="gridcell"
            className={tone ? `rt-td tone-${tone}` : "rt-td"}
            data-testid={`table-cell-${column.id}`}
            title={text}
          >
            {text}
          </span>
        );
      })}
      <span
        role="gridcell"
        className="rt-td rt-actions"
        onClick={(e) => {
          e.stopPropagation();
        }}
      >
        <ActionsMenu cluster={cluster} resource={resource} row={row} />
      </span>
    </div>
  );
});

function EmptyState({ state, filtered, what }: { state: WatchState; filtered: boolean; what: string }) {
  if (state === "syncing") return <p className="rt-empty muted">Listing {what}…</p>;
  if (state === "reconnecting" && !filtered) {
    return <p className="rt-empty muted">No {what} listed yet: waiting for the API server to answer.</p>;
  }
  if (filtered) {
    return <p className="rt-empty muted">No {what} match the filter. Press Esc to clear it.</p>;
  }
  return (
    <div className="rt-empty">
      <p className="muted">There are no {what}.</p>
      <button
        type="button"
        onClick={() => {
          navigate({ view: "create" });
        }}
      >
        Create one from YAML
      </button>
    </div>
  );
}
