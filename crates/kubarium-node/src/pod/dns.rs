//! A pod's hostname, domain name and resolver settings, formed as the kubelet forms them
//! (`pkg/kubelet/network/dns/dns.go` and `GeneratePodHostNameAndDomain`): pure, so every
//! policy is unit-tested here; the sandbox gets the result through
//! [`SandboxConfig`](crate::runtime::SandboxConfig).
//!
//! - `ClusterFirst` (the default): the cluster DNS server alone, search
//!   `<ns>.svc.<domain> svc.<domain> <domain>`, `options ndots:5`; a `hostNetwork` pod falls
//!   back to `Default`. `ClusterFirstWithHostNet`: the cluster's, host network or not.
//! - `Default`: the node's resolvers. Here that is the runtime's default (on Docker, the
//!   host's, through Docker's embedded DNS); the host's search list is not read, so a
//!   `dnsConfig` search list given with `Default` replaces it rather than extends it.
//! - `None`: only what `dnsConfig` says.
//!
//! `dnsConfig` is merged in as the kubelet merges it (servers and searches appended without
//! duplicates, options by name, the pod's winning), then cut to the resolver's limits: 3
//! nameservers, 32 search paths of at most 253 characters, 2048 characters in all (the
//! API server's validation has the same limits; the kubelet cuts what a `ClusterFirst`
//! prefix pushes over them), with the kubelet's `DNSConfigForming` warning.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::DnsConfig;

/// The most nameservers a resolver uses (`validation.MaxDNSNameservers`).
pub(crate) const MAX_NAMESERVERS: usize = 3;
/// The most search paths (`validation.MaxDNSSearchPaths`).
pub(crate) const MAX_SEARCH_PATHS: usize = 32;
/// The longest search line (`validation.MaxDNSSearchListChars`).
pub(crate) const MAX_SEARCH_LIST_CHARS: usize = 2048;
/// The longest search path glibc accepts (`DNS1123SubdomainMaxLength`).
const MAX_SEARCH_PATH_CHARS: usize = 253;
/// The longest hostname (a DNS label).
const MAX_HOSTNAME: usize = 63;
/// The longest hostname the kernel takes (`setHostnameAsFQDN`).
const MAX_KERNEL_HOSTNAME: usize = 64;
/// The kubelet's options for `ClusterFirst`.
const CLUSTER_OPTIONS: &str = "ndots:5";

/// What a pod's sandbox is made with, and the warnings the kubelet records on the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PodNetworkNames {
    /// The sandbox's hostname.
    pub(crate) hostname: String,
    /// Its domain name (`<subdomain>.<ns>.svc.<domain>`), or empty.
    pub(crate) domainname: String,
    /// Its resolver settings; `None`: the runtime's default.
    pub(crate) dns: Option<DnsConfig>,
    /// `(reason, message)` of Warning events to record on the pod.
    pub(crate) warnings: Vec<(&'static str, String)>,
}

/// Forms the pod's names and resolver settings. `cluster_dns` is the cluster DNS server
/// (`None` when the cluster has none, e.g. on the hollow runtime), `domain` the cluster
/// domain. An error is what the kubelet fails the sandbox with (an FQDN hostname too long).
pub(crate) fn form(
    pod: &Pod,
    cluster_dns: Option<Ipv4Addr>,
    domain: &str,
) -> Result<PodNetworkNames, String> {
    let spec = pod.spec.as_ref();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut warnings = Vec::new();

    let mut hostname = spec
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
        .unwrap_or(name)
        .to_owned();
    if hostname.len() > MAX_HOSTNAME {
        hostname.truncate(MAX_HOSTNAME);
        hostname = hostname.trim_end_matches(['-', '.']).to_owned();
    }
    let domainname = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|subdomain| format!("{subdomain}.{namespace}.svc.{domain}"))
        .unwrap_or_default();
    let as_fqdn = spec.and_then(|s| s.set_hostname_as_fqdn).unwrap_or(false);
    let (hostname, domainname) = if as_fqdn && !domainname.is_empty() {
        let fqdn = format!("{hostname}.{domainname}");
        if fqdn.len() > MAX_KERNEL_HOSTNAME {
            return Err(format!(
                "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({MAX_KERNEL_HOSTNAME} characters is the max, {} characters requested)",
                fqdn.len()
            ));
        }
        (fqdn, String::new())
    } else {
        (hostname, domainname)
    };

    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("");
    let mut dns = match policy {
        "None" => Some(DnsConfig::default()),
        "Default" => None,
        "ClusterFirst" | "" if host_network => None,
        // ClusterFirst, ClusterFirstWithHostNet, and anything the API server let through.
        _ => match cluster_dns {
            Some(server) => Some(DnsConfig {
                servers: vec![server.to_string()],
                searches: vec![
                    format!("{namespace}.svc.{domain}"),
                    format!("svc.{domain}"),
                    domain.to_owned(),
                ],
                options: vec![CLUSTER_OPTIONS.to_owned()],
            }),
            None => {
                warnings.push((
                    "MissingClusterDNS",
                    format!(
                        "pod: \"{name}_{namespace}\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"{}\" policy. Falling back to \"Default\" policy.",
                        if policy.is_empty() { "ClusterFirst" } else { policy }
                    ),
                ));
                None
            }
        },
    };
    if let Some(config) = spec.and_then(|s| s.dns_config.as_ref()) {
        let base = dns.get_or_insert_with(DnsConfig::default);
        let append = |list: &mut Vec<String>, more: &[String]| {
            for item in more {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        };
        append(
            &mut base.servers,
            config.nameservers.as_deref().unwrap_or_default(),
        );
        append(
            &mut base.searches,
            config.searches.as_deref().unwrap_or_default(),
        );
        for option in config.options.iter().flatten() {
            let Some(option_name) = option.name.as_deref() else {
                continue;
            };
            let formed = match option.value.as_deref() {
                Some(value) if !value.is_empty() => format!("{option_name}:{value}"),
                _ => option_name.to_owned(),
            };
            let same = |existing: &String| existing.split(':').next() == Some(option_name);
            match base.options.iter_mut().find(|existing| same(existing)) {
                Some(existing) => *existing = formed,
                None => base.options.push(formed),
            }
        }
    }
    if let Some(config) = dns.as_mut() {
        fit_limits(config, &mut warnings);
    }
    Ok(PodNetworkNames {
        hostname,
        domainname,
        dns,
        warnings,
    })
}

/// Cuts `config` to the resolver's limits as the kubelet's `formDNSConfigFitsLimits` does.
fn fit_limits(config: &mut DnsConfig, warnings: &mut Vec<(&'static str, String)>) {
    if config.servers.len() > MAX_NAMESERVERS {
        config.servers.truncate(MAX_NAMESERVERS);
        warnings.push((
            "DNSConfigForming",
            format!(
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                config.servers.join(" ")
            ),
        ));
    }
    let mut exceeded = false;
    if config.searches.len() > MAX_SEARCH_PATHS {
        config.searches.truncate(MAX_SEARCH_PATHS);
        exceeded = true;
    }
    let before = config.searches.len();
    config
        .searches
        .retain(|search| search.len() <= MAX_SEARCH_PATH_CHARS);
    exceeded |= config.searches.len() != before;
    while config.searches.join(" ").len() > MAX_SEARCH_LIST_CHARS {
        config.searches.pop();
        exceeded = true;
    }
    if exceeded {
        warnings.push((
            "DNSConfigForming",
            format!(
                "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                config.searches.join(" ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodDNSConfig, PodDNSConfigOption, PodSpec};
    use kube::api::ObjectMeta;

    use super::*;

    const DNS: Ipv4Addr = Ipv4Addr::new(172, 18, 128, 10);

    fn pod(spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-0".to_owned()),
                namespace: Some("shop".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status: None,
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn cluster_first() -> DnsConfig {
        DnsConfig {
            servers: strings(&["172.18.128.10"]),
            searches: strings(&[
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
            ]),
            options: strings(&["ndots:5"]),
        }
    }

    #[test]
    fn cluster_first_is_the_default() {
        let formed = form(&pod(PodSpec::default()), Some(DNS), "cluster.local").unwrap();
        assert_eq!(formed.hostname, "web-0");
        assert_eq!(formed.domainname, "");
        assert_eq!(formed.dns, Some(cluster_first()));
        assert!(formed.warnings.is_empty());
        let explicit = PodSpec {
            dns_policy: Some("ClusterFirst".to_owned()),
            ..PodSpec::default()
        };
        assert_eq!(
            form(&pod(explicit), Some(DNS), "cluster.local")
                .unwrap()
                .dns,
            Some(cluster_first())
        );
    }

    #[test]
    fn host_network_pods_use_the_nodes_resolver_unless_asked() {
        let host = |policy: &str| PodSpec {
            host_network: Some(true),
            dns_policy: Some(policy.to_owned()),
            ..PodSpec::default()
        };
        let formed = form(&pod(host("ClusterFirst")), Some(DNS), "cluster.local").unwrap();
        assert_eq!(formed.dns, None);
        let formed = form(
            &pod(host("ClusterFirstWithHostNet")),
            Some(DNS),
            "cluster.local",
        )
        .unwrap();
        assert_eq!(formed.dns, Some(cluster_first()));
        let formed = form(&pod(host("Default")), Some(DNS), "cluster.local").unwrap();
        assert_eq!(formed.dns, None);
    }

    #[test]
    fn without_a_cluster_dns_cluster_first_falls_back_with_a_warning() {
        let formed = form(&pod(PodSpec::default()), None, "cluster.local").unwrap();
        assert_eq!(formed.dns, None);
        assert_eq!(formed.warnings.len(), 1);
        assert_eq!(formed.warnings[0].0, "MissingClusterDNS");
    }

    #[test]
    fn none_takes_only_the_pods_dns_config() {
        let spec = PodSpec {
            dns_policy: Some("None".to_owned()),
            dns_config: Some(PodDNSConfig {
                nameservers: Some(strings(&["1.2.3.4"])),
                searches: Some(strings(&[
                    "ns1.svc.cluster-domain.example",
                    "my.dns.search.suffix",
                ])),
                options: Some(vec![
                    PodDNSConfigOption {
                        name: Some("ndots".to_owned()),
                        value: Some("2".to_owned()),
                    },
                    PodDNSConfigOption {
                        name: Some("edns0".to_owned()),
                        value: None,
                    },
                ]),
            }),
            ..PodSpec::default()
        };
        let formed = form(&pod(spec), Some(DNS), "cluster.local").unwrap();
        assert_eq!(
            formed.dns,
            Some(DnsConfig {
                servers: strings(&["1.2.3.4"]),
                searches: strings(&["ns1.svc.cluster-domain.example", "my.dns.search.suffix"]),
                options: strings(&["ndots:2", "edns0"]),
            })
        );
    }

    #[test]
    fn dns_config_merges_into_cluster_first() {
        let spec = PodSpec {
            dns_config: Some(PodDNSConfig {
                nameservers: Some(strings(&["172.18.128.10", "8.8.8.8"])),
                searches: Some(strings(&["svc.cluster.local", "example.com"])),
                options: Some(vec![
                    PodDNSConfigOption {
                        name: Some("ndots".to_owned()),
                        value: Some("1".to_owned()),
                    },
                    PodDNSConfigOption {
                        name: Some("timeout".to_owned()),
                        value: Some("3".to_owned()),
                    },
                ]),
            }),
            ..PodSpec::default()
        };
        let formed = form(&pod(spec), Some(DNS), "cluster.local").unwrap();
        assert_eq!(
            formed.dns,
            Some(DnsConfig {
                servers: strings(&["172.18.128.10", "8.8.8.8"]),
                searches: strings(&[
                    "shop.svc.cluster.local",
                    "svc.cluster.local",
                    "cluster.local",
                    "example.com"
                ]),
                options: strings(&["ndots:1", "timeout:3"]),
            })
        );
        let default_with_config = PodSpec {
            dns_policy: Some("Default".to_owned()),
            dns_config: Some(PodDNSConfig {
                searches: Some(strings(&["example.com"])),
                ..PodDNSConfig::default()
            }),
            ..PodSpec::default()
        };
        let formed = form(&pod(default_with_config), Some(DNS), "cluster.local").unwrap();
        assert_eq!(
            formed.dns,
            Some(DnsConfig {
                searches: strings(&["example.com"]),
                ..DnsConfig::default()
            })
        );
    }

    #[test]
    fn limits_are_applied_with_the_kubelets_warning() {
        let searches: Vec<String> = (0..40).map(|i| format!("s{i}.example.com")).collect();
        let spec = PodSpec {
            dns_config: Some(PodDNSConfig {
                nameservers: Some(strings(&["1.1.1.1", "8.8.8.8", "9.9.9.9"])),
                searches: Some(searches),
                ..PodDNSConfig::default()
            }),
            ..PodSpec::default()
        };
        let formed = form(&pod(spec), Some(DNS), "cluster.local").unwrap();
        let dns = formed.dns.unwrap();
        assert_eq!(
            dns.servers,
            strings(&["172.18.128.10", "1.1.1.1", "8.8.8.8"])
        );
        assert_eq!(dns.searches.len(), MAX_SEARCH_PATHS);
        assert_eq!(dns.searches[0], "shop.svc.cluster.local");
        let reasons: Vec<&str> = formed.warnings.iter().map(|(r, _)| *r).collect();
        assert_eq!(reasons, ["DNSConfigForming", "DNSConfigForming"]);
        assert!(
            formed.warnings[1]
                .1
                .starts_with("Search Line limits were exceeded")
        );

        let long: Vec<String> = (0..12).map(|i| format!("{i}{}", "x".repeat(199))).collect();
        let too_long = "y".repeat(300);
        let spec = PodSpec {
            dns_policy: Some("None".to_owned()),
            dns_config: Some(PodDNSConfig {
                searches: Some(std::iter::once(too_long).chain(long).collect()),
                ..PodDNSConfig::default()
            }),
            ..PodSpec::default()
        };
        let dns = form(&pod(spec), Some(DNS), "cluster.local")
            .unwrap()
            .dns
            .unwrap();
        assert_eq!(
            dns.searches.len(),
            10,
            "2048 characters hold ten 200-character paths"
        );
        assert!(dns.searches.join(" ").len() <= MAX_SEARCH_LIST_CHARS);
    }

    #[test]
    fn hostname_and_subdomain_name_the_sandbox() {
        let spec = PodSpec {
            hostname: Some("db-1".to_owned()),
            subdomain: Some("db".to_owned()),
            ..PodSpec::default()
        };
        let formed = form(&pod(spec.clone()), Some(DNS), "cluster.local").unwrap();
        assert_eq!(formed.hostname, "db-1");
        assert_eq!(formed.domainname, "db.shop.svc.cluster.local");

        let fqdn = PodSpec {
            set_hostname_as_fqdn: Some(true),
            ..spec
        };
        let formed = form(&pod(fqdn.clone()), Some(DNS), "cluster.local").unwrap();
        assert_eq!(formed.hostname, "db-1.db.shop.svc.cluster.local");
        assert_eq!(formed.domainname, "");
        let error = form(
            &pod(PodSpec {
                subdomain: Some("d".repeat(40)),
                ..fqdn
            }),
            Some(DNS),
            "cluster.local",
        )
        .unwrap_err();
        assert!(
            error.contains("is too long (64 characters is the max"),
            "{error}"
        );

        let mut long = pod(PodSpec::default());
        long.metadata.name = Some(format!("{}-abc", "a".repeat(62)));
        let formed = form(&long, Some(DNS), "cluster.local").unwrap();
        assert_eq!(
            formed.hostname,
            "a".repeat(62),
            "cut to 63, trailing '-' dropped"
        );
    }
}
