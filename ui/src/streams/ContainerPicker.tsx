// The container choice the Logs and Exec panes share: which container of the pod(s) they stream, picked from a list when there is more than one.
import { useState } from "react";

/** The chosen container: the user's pick while the pod still has it, else the first one. */
export function useContainerChoice(containers: string[]): [string | null, (container: string) => void] {
  const [container, setContainer] = useState<string | null>(containers[0] ?? null);
  const chosen = container !== null && containers.includes(container) ? container : (containers[0] ?? null);
  return [chosen, setContainer];
}

interface Props {
  containers: string[];
  chosen: string | null;
  onChoose: (container: string) => void;
}

/** A labelled select of the containers; nothing when there is only one to choose. */
export function ContainerPicker({ containers, chosen, onChoose }: Props): React.JSX.Element | null {
  if (containers.length <= 1) return null;
  return (
    <label>
      Container{" "}
      <select value={chosen ?? ""} onChange={(e) => { onChoose(e.target.value); }}>
        {containers.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
    </label>
  );
}
