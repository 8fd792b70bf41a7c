// The seed's XML examples (patent US 9,053,339, "VM set policies"), verbatim: including the
// typographic quotes and the "ISO-8859-I" of the pasted declaration, and its blank lines.
// One copy for the demo, the tests and the key server's examples.
#pragma once

namespace cafs::policy::seed_examples {

inline constexpr const char* kSeedVmSetOneLine =
    "<?xml version=\xE2\x80\xB3"
    "1.0\xE2\x80\xB3 encoding=\xE2\x80\xB3ISO-8859-I\xE2\x80\xB3?><vmset><name>my_vmset</name>"
    "<mnt>/nfs</mnt><pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd><vmserv>755083456</vmserv>"
    "</vmset>";

inline constexpr const char* kSeedVmSet =
    "<?xml version=\xE2\x80\xB3"
    "1.0\xE2\x80\xB3 encoding=\xE2\x80\xB3ISO-8859-I\xE2\x80\xB3?>\n"
    "\n"
    "<vmset>\n"
    "\n"
    "<name>my_vmset</name>\n"
    "\n"
    "<mnt>/nfs</mnt>\n"
    "\n"
    "<pd>45aa9e57-bf64-11df-8d3e-000c29abeb4d</pd>\n"
    "\n"
    "<vmserv>755083456</vmserv>\n"
    "\n"
    "</vmset>\n";

inline constexpr const char* kSeedVobjList = R"(<vobj-list>

<vobj>

<vglob>*osdisk*</vglob>

<symkey>062b9056-bf64-11df-8d3e-000c29abeb4d</symkey>

<storepol>mirrored_pool_A</storepol>

<access>Mon-Fri(9am-5pm)</access>

<audit>all_records</audit>

</vobj>

<vobj>

<vglob>hc_default</vglob>

<symkey>01010101-0101-0101-0101-010101010101</symkey>

<storepol>default_pool</storepol>

<access>at_all_times</access>

<audit>none</audit>

</vobj>

</vobj-list>
)";

}  // namespace cafs::policy::seed_examples
