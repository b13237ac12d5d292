#include "drivers/ports/port.hpp"

#include <cstring>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

namespace sluice::drivers {

std::string device_name(const std::string& device) { return device.substr(0, device.find(',')); }

namespace {

std::string fail(const net::PortSpec& s, const std::string& step, int err) {
    return "port " + s.name + " (" + s.device + "): " + step + " failed: " + rte_strerror(err < 0 ? -err : err) +
           " (" + std::to_string(err) + ")";
}

bool find_port(const std::string& dev, uint16_t* id) { return rte_eth_dev_get_port_by_name(dev.c_str(), id) == 0; }

}  // namespace

PortResult open_port(const net::PortSpec& s, const PortUse& use) {
    PortResult r;
    std::string dev = device_name(s.device);
    uint16_t id = 0;
    if (!find_port(dev, &id)) {
        // Not probed by EAL (a vdev from the config, or a PCI device not in
        // the allow list): hot-plug it.
        int rc = rte_dev_probe(s.device.c_str());
        if (rc < 0 || !find_port(dev, &id)) {
            r.error = fail(s, "probing the device (is the name right, is a PCI device bound to vfio-pci?)",
                           rc < 0 ? rc : -ENODEV);
            return r;
        }
    }
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(id, &info); rc != 0) {
        r.error = fail(s, "rte_eth_dev_info_get", rc);
        return r;
    }
    if (s.rx_queues > info.max_rx_queues || use.tx_queues > info.max_tx_queues) {
        r.error = "port " + s.name + " (" + s.device + "): driver " + info.driver_name + " supports at most " +
                  std::to_string(info.max_rx_queues) + " RX / " + std::to_string(info.max_tx_queues) +
                  " TX queues; asked for " + std::to_string(s.rx_queues) + " / " + std::to_string(use.tx_queues);
        return r;
    }

    rte_eth_conf conf{};
    const uint64_t want_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
    bool rss = s.rx_queues > 1 && (info.flow_type_rss_offloads & want_rss) != 0;
    if (rss) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = want_rss & info.flow_type_rss_offloads;
    }
    // The NIC's IPv4 header checksum verdict saves the forwarder the software
    // check (it reads RTE_MBUF_F_RX_IP_CKSUM_*; without offload it checks).
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    if (use.tx_mbufs_direct_one_pool && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE))
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    uint16_t n_rx = s.rx_queues;
    // net_tap refuses unequal counts (and says so loudly): ask right away.
    if (std::strcmp(info.driver_name, "net_tap") == 0 && n_rx < use.tx_queues) n_rx = use.tx_queues;
    int rc = rte_eth_dev_configure(id, n_rx, use.tx_queues, &conf);
    if (rc != 0 && n_rx < use.tx_queues && use.tx_queues <= info.max_rx_queues) {
        // Some PMDs (net_tap) insist on as many RX as TX queues. Give them
        // that; every RX queue is polled, so nothing is stranded.
        n_rx = use.tx_queues;
        if (n_rx > 1 && (info.flow_type_rss_offloads & want_rss) != 0) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = want_rss & info.flow_type_rss_offloads;
            rss = true;
        }
        rc = rte_eth_dev_configure(id, n_rx, use.tx_queues, &conf);
    }
    if (rc != 0) {
        r.error = fail(s, "rte_eth_dev_configure", rc);
        return r;
    }
    // Some PMDs (net_null, net_ring) have no MTU op; that is not an error
    // for them, a real NIC refusing a value is.
    if (int rc = rte_eth_dev_set_mtu(id, s.mtu); rc != 0 && rc != -ENOTSUP) {
        r.error = fail(s, "rte_eth_dev_set_mtu(" + std::to_string(s.mtu) + ")", rc);
        return r;
    }
    uint16_t nrx = s.rx_desc, ntx = s.tx_desc;
    if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx); rc != 0) {
        r.error = fail(s, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
        return r;
    }
    int socket = rte_eth_dev_socket_id(id);
    if (socket < 0) socket = SOCKET_ID_ANY;
    for (uint16_t q = 0; q < n_rx; ++q) {
        if (int rc = rte_eth_rx_queue_setup(id, q, nrx, unsigned(socket), nullptr, use.pool); rc != 0) {
            r.error = fail(s, "rte_eth_rx_queue_setup(queue " + std::to_string(q) + ")", rc);
            return r;
        }
    }
    rte_eth_txconf txc = info.default_txconf;
    txc.offloads = conf.txmode.offloads;
    for (uint16_t q = 0; q < use.tx_queues; ++q) {
        if (int rc = rte_eth_tx_queue_setup(id, q, ntx, unsigned(socket), &txc); rc != 0) {
            r.error = fail(s, "rte_eth_tx_queue_setup(queue " + std::to_string(q) + ")", rc);
            return r;
        }
    }
    if (s.mac) {
        rte_ether_addr a;
        std::memcpy(a.addr_bytes, s.mac->data(), 6);
        if (int rc = rte_eth_dev_default_mac_addr_set(id, &a); rc != 0) {
            r.error = fail(s, "setting the MAC address", rc);
            return r;
        }
    }
    if (s.promiscuous) {
        if (int rc = rte_eth_promiscuous_enable(id); rc != 0 && rc != -ENOTSUP) {
            r.error = fail(s, "rte_eth_promiscuous_enable", rc);
            return r;
        }
    }
    // Receive all-multicast so IPv6 solicited-node multicast (ND) reaches us
    // on NICs that filter multicast.
    rte_eth_allmulticast_enable(id);
    if (int rc = rte_eth_dev_start(id); rc != 0) {
        r.error = fail(s, "rte_eth_dev_start", rc);
        return r;
    }
    PortInfo pi;
    pi.port_id = id;
    pi.driver = info.driver_name ? info.driver_name : "";
    rte_ether_addr a{};
    rte_eth_macaddr_get(id, &a);
    std::memcpy(pi.mac.data(), a.addr_bytes, 6);
    pi.rx_queues = n_rx;
    pi.tx_queues = use.tx_queues;
    pi.rss = rss;
    pi.rx_ip_cksum = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
    pi.tx_fast_free = (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) != 0;
    r.info = pi;
    return r;
}

void close_port(uint16_t port_id) {
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
}

}  // namespace sluice::drivers
