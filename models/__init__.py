"""Online models (River) and their lifecycle; scikit-learn baselines for cold start and evaluation.

Empty until the online-learning work lands (need, satisfaction, urgency, emerging needs).
"""
