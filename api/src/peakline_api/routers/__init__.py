"""HTTP routers, one resource family per module. (commands.py is the control issue's.)"""
