#include "api/port.hpp"

namespace sluice::net {

std::vector<std::string_view> changed_fields(const PortSpec& a, const PortSpec& b) {
    std::vector<std::string_view> out;
    if (a.name != b.name) out.push_back("name");
    if (a.device != b.device) out.push_back("device");
    if (a.rx_queues != b.rx_queues) out.push_back("rx_queues");
    if (a.rx_desc != b.rx_desc) out.push_back("rx_desc");
    if (a.tx_desc != b.tx_desc) out.push_back("tx_desc");
    if (a.mtu != b.mtu) out.push_back("mtu");
    if (a.mac != b.mac) out.push_back("mac");
    if (a.promiscuous != b.promiscuous) out.push_back("promiscuous");
    if (out.empty() && !(a == b)) out.push_back("(unnamed field)");
    return out;
}

}  // namespace sluice::net
