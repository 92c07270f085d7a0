"""kgml_core: the science behind the KGML carbon dashboard.

Knowledge-guided machine learning (KGML-ag, SDSA-KGML, TAM-RL) of land carbon
fluxes over real US counties and flux-tower sites. No Streamlit import here:
the dashboard pages and the command-line interface are thin layers over this
package.
"""
__version__ = "0.1.0"
