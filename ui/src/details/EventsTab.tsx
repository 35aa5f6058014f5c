// The Events tab: what the cluster reported about this object, newest first.
import { useResources } from "../state/resources";
import { ErrorBanner } from "../shell/ErrorBanner";
import { useNow } from "../state/clock";
import { formatAge } from "../state/table";
import { eventsOf } from "./events";

/** Events of one object. Cluster-scoped objects' events may be in any namespace. */
export function EventsTab(props: { cluster: string; namespace: string | null; uid: string; kind: string; name: string }) {
  const snapshot = useResources("events", props.namespace, props.cluster);
  const now = useNow(5000);
  const events = eventsOf(snapshot.rows, props.uid, props.kind, props.name);
  if (snapshot.error) {
    return <ErrorBanner title="Events could not be read" error={snapshot.error} />;
  }
  if (events.length === 0) {
    return <p className="muted">{snapshot.state === "syncing" ? "Loading events…" : "No events about this object (events expire after an hour)."}</p>;
  }
  return (
    <table className="details-table" data-testid="details-events-table">
      <thead>
        <tr>
          <th>Type</th>
          <th>Reason</th>
          <th>Age</th>
          <th>From</th>
          <th>Count</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {events.map((event) => (
          <tr key={event.uid} className={event.summary.eventType === "Warning" ? "event-warning" : ""} data-testid="details-event">
            <td>{event.summary.eventType}</td>
            <td>{event.summary.reason}</td>
            <td title={event.summary.lastSeen ?? ""}>{event.summary.lastSeen ? formatAge(event.summary.lastSeen, now) : ""}</td>
            <td>{event.summary.source}</td>
            <td>{event.summary.count}</td>
            <td className="wrap">{event.summary.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
