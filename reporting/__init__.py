"""The periodic report's figures (`figures`, the success metrics read from PostgreSQL), its
inline SVG charts (`charts`) and its email (`rendering`). The report activities send it;
`complaints report` and the console's reports page show it."""
