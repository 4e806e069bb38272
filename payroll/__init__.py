"""Payroll APIs, one folder each, every one implementing `bot.core.payroll.PayrollProvider`.

`nmbrs_soap` is the Nmbrs SOAP API v3 (switched off on 2027-03-01); the Nmbrs REST API with
OAuth consent is `nmbrs_rest` beside it. `sandbox_names` gives both sandboxes the same Dutch
business names for their long company lists.
"""
