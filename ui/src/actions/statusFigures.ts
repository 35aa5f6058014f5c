// Words for the status bar's Docker and machine figures (pushed with every 2 s probe).
import type { DockerState, HostStats } from "../ipc/actions";

/** Bytes in binary units, one decimal from GiB up: `512 MiB`, `7.8 GiB`. */
export function formatBytes(bytes: number): string {
  const gib = 1024 ** 3;
  if (bytes >= gib) return `${(bytes / gib).toFixed(1)} GiB`;
  return `${String(Math.round(bytes / 1024 ** 2))} MiB`;
}

/** `CPU 12% · RAM 7.8/15.6 GiB`; the CPU part waits for a second probe. */
export function hostLabel(host: HostStats): string {
  const cpu = host.cpuPercent === null ? "CPU …" : `CPU ${String(Math.round(host.cpuPercent))}%`;
  return `${cpu} · RAM ${formatBytes(host.memoryUsedBytes)} / ${formatBytes(host.memoryTotalBytes)}`;
}

/** Docker in a few words, and whether it is trouble. */
export function dockerLabel(docker: DockerState): { text: string; down: boolean; title: string } {
  switch (docker.state) {
    case "running":
      return { text: `Docker ${docker.version}`, down: false, title: "The Docker engine the pods run on answers." };
    case "unreachable":
      return { text: "Docker unreachable", down: true, title: docker.message };
    case "notUsed":
      return {
        text: "Hollow pods",
        down: false,
        title: "Pods are simulated (--runtime hollow): no Docker needed, no real containers run.",
      };
  }
}
