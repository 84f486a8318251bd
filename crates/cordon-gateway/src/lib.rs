//! The governed MCP gateway: upstream servers, agent transports, pipeline and approvals.
