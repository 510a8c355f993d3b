"""The API's data endpoints (api-data): findings across the fleet and a host's SARIF, risk
exceptions, image vulnerabilities, trends, the Trivy / CycloneDX upload. Each view is thin:
it reads its filters with the pages' own filter classes and calls the functions the pages
and exports call (findings.export, policy, vulns, trends). Read api/base.py first."""
