"""Services: one Cluster object per configured cluster; all glue (caching, policy, feasibility) lives here."""
